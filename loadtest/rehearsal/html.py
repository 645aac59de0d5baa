"""The report as one self-contained HTML file: inline CSS and SVG charts, no script, no network.
Renders the document `analysis.analyse` built; computes nothing new.
"""

from html import escape
from typing import Any

from loadtest.rehearsal.svg import PALETTE, Band, Chart, HLine, Line, Marker

_CSS = """
body{font-family:sans-serif;margin:24px;color:#111827;max-width:1180px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px}
.muted{color:#6b7280} .ok{color:#15803d;font-weight:bold} .fail{color:#b91c1c;font-weight:bold}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
td,th{border:1px solid #e5e7eb;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f9fafb}
td:first-child,th:first-child{text-align:left}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:bold}
figure{margin:10px 0}
"""


def _color(doc: dict[str, Any], release: str) -> str:
    names = sorted(doc["releases"] | {w: 0 for s in doc["weights"] for w in s["weights"]})
    names = sorted(names, key=lambda r: (len(r), r))
    return PALETTE[names.index(release) % len(PALETTE)] if release in names else "#374151"


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        text = f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
        return text + unit
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return escape(str(value)) + unit


_ROWS_SHOWN = 60


def _table(header: list[str], rows: list[list[Any]]) -> str:
    if len(rows) > _ROWS_SHOWN:  # a flip storm has hundreds: the JSON has them all
        more = len(rows) - _ROWS_SHOWN
        rows = [*rows[:_ROWS_SHOWN], [f"… {more} more rows in the JSON report"]]
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _markers(doc: dict[str, Any]) -> list[Marker]:
    markers = []
    for change in doc["changes"]:
        if change["at_s"] < 0:
            continue
        weights = " ".join(f"{r}={w:g}" for r, w in change["weights"].items())
        markers.append(Marker(change["at_s"], f"{change['action']} {weights}"))
    for decision in doc["controller"]["decisions"]:
        if decision["action"] in ("hold", "pause"):
            markers.append(Marker(decision["at_s"], decision["action"], "#b45309"))
    return markers


def _per_release_chart(
    doc: dict[str, Any], key: str, title: str, *, percent: bool, dashed_key: str | None = None
) -> str:
    series = doc["series"]
    load_s = doc["run"]["load_s"]
    chart = Chart(title, x_max=load_s, percent=percent, y_min=0.0)
    for release, values in series[key].items():
        chart.lines.append(Line(release, series["t"], values, _color(doc, release), dots=True))
        if dashed_key is not None:
            other = series[dashed_key][release]
            chart.lines.append(Line("", series["t"], other, _color(doc, release), dashed=True))
    chart.markers.extend(_markers(doc))
    return chart.render()


def _split_chart(doc: dict[str, Any]) -> str:
    series, load_s = doc["series"], doc["run"]["load_s"]
    chart = Chart(
        "Configured weight (dashed) vs observed share of real users' calls",
        x_max=load_s,
        percent=True,
        y_min=0.0,
        y_max=1.0,
    )
    releases = sorted({r for s in doc["weights"] for r in s["weights"]} | set(series["share"]))
    for release in releases:
        xs = [s["from_s"] for s in doc["weights"]]
        ys = [s["weights"].get(release, 0.0) / 100 for s in doc["weights"]]
        color = _color(doc, release)
        chart.lines.append(Line(f"{release} weight", xs, ys, color, dashed=True, step=True))
        if release in series["share"]:
            chart.lines.append(
                Line(f"{release} observed", series["t"], series["share"][release], color)
            )
    return chart.render()


def _rate_chart(doc: dict[str, Any]) -> str:
    series = doc["series"]
    chart = Chart("Offered vs achieved calls/s", x_max=doc["run"]["load_s"], y_min=0.0)
    chart.lines.append(Line("offered", series["t"], series["offered_per_s"], "#9ca3af", width=3))
    chart.lines.append(Line("achieved", series["t"], series["achieved_per_s"], "#111827"))
    chart.lines.append(Line("lost", series["t"], series["lost_per_s"], "#b91c1c"))
    chart.lines.append(Line("shed", series["t"], series["shed_per_s"], "#b45309", dashed=True))
    return chart.render()


def _lateness_chart(doc: dict[str, Any]) -> str:
    series = doc["series"]
    chart = Chart(
        "Generator lateness p99 (sent minus due), ms: high means the generator fell behind",
        x_max=doc["run"]["load_s"],
        y_min=0.0,
    )
    chart.lines.append(Line("lateness p99", series["t"], series["lateness_p99_ms"], "#6b7280"))
    return chart.render()


def _propagation_chart(doc: dict[str, Any]) -> str | None:
    flips = [f for f in doc["propagation"]["flips"] if f["all_replicas_ms"] is not None]
    if not flips:
        return None
    chart = Chart(
        "Flip propagation: until every replica served the flip, ms (upper and lower bounds)",
        x_max=doc["run"]["load_s"],
        y_min=0.0,
    )
    xs = [f["at_s"] for f in flips]
    upper = [f["all_replicas_ms"] for f in flips]
    lower = [max(r["after_ms"] for r in f["replicas"]) for f in flips]
    chart.lines.append(Line("upper bound", xs, upper, PALETTE[0], width=0.8, dots=True))
    chart.lines.append(Line("lower bound", xs, lower, PALETTE[2], width=0.8, dots=True))
    chart.hlines.append(HLine(50.0, "50 ms", "#b91c1c"))
    return chart.render()


def _evidence_charts(doc: dict[str, Any]) -> list[str]:
    out = []
    load_s = doc["run"]["load_s"]
    for metric, found in doc["controller"]["guards"].items():
        if not found["t"]:
            continue
        estimates = [abs(v) for v in found["estimate"] if v is not None]
        reach = max([2.5 * (found["margin"] or 0.0), *(1.5 * v for v in estimates)], default=1.0)
        chart = Chart(
            f"Controller: {metric}, canary minus stable (estimate, confidence bounds)",
            x_max=load_s,
            y_min=-reach,
            y_max=reach,
        )
        chart.bands.append(Band(found["t"], found["lower"], found["upper"], PALETTE[1]))
        chart.lines.append(Line("estimate", found["t"], found["estimate"], PALETTE[1]))
        chart.lines.append(
            Line("lower", found["t"], found["lower"], PALETTE[1], dashed=True, width=1)
        )
        chart.lines.append(
            Line("upper", found["t"], found["upper"], PALETTE[1], dashed=True, width=1)
        )
        chart.hlines.append(HLine(0.0, "no difference"))
        if found["margin"] is not None:
            chart.hlines.append(HLine(found["margin"], f"margin {found['margin']:g}", "#15803d"))
        chart.markers.extend(_markers(doc))
        out.append(chart.render())
    return out


def _triple(*values: Any) -> str:
    return " / ".join(_fmt(v) for v in values)


def _summary(doc: dict[str, Any]) -> str:
    load, prop, rollback = doc["load"], doc["propagation"], doc["rollback"]
    lag = load["lag_ms"]
    rows: list[list[Any]] = [
        ["offered / achieved calls/s", _triple(load["offered_per_s"], load["achieved_per_s"])],
        [
            "calls sent / answered / lost / shed",
            _triple(load["sent"], load["answered"], load["lost"], load["shed"]),
        ],
        ["gateways counted", load["gateway_counted"]],
        ["generator lateness p50 / p99 / max ms", _triple(lag["p50"], lag["p99"], lag["max"])],
        ["generator fell behind", load["generator_behind"]],
        [
            "generator CPU: share of a core / µs per call",
            _triple(load["generator_cpu_share"], load["generator_cpu_us_per_call"]),
        ],
        [
            f"flip propagation p50 / p99 / max ms ({prop['measured']} of "
            f"{prop['flip_count']} flips)",
            _triple(prop["p50_ms"], prop["p99_ms"], prop["max_ms"]),
        ],
    ]
    if rollback is not None:
        name = rollback["release"]
        rows.append([f"{name}: first call to flip back, s", rollback["from_first_call_s"]])
        rows.append(
            [f"{name}: first bad outcome to flip back, s", rollback["from_first_bad_outcome_s"]]
        )
    srm = doc["split"]["srm"]
    if srm["generator"] is not None:
        found = srm["generator"]
        rows.append(
            ["SRM p (generator: calls / users)", _triple(found["calls_p"], found["users_p"])]
        )
    if srm["controller"] is not None:
        found = srm["controller"]
        rows.append(
            ["SRM p (controller: requests / keys)", _triple(found["requests_p"], found["keys_p"])]
        )
    return _table(["figure", "value"], rows)


def _weights_text(weights: dict[str, float]) -> str:
    return " ".join(f"{r}={w:g}" for r, w in weights.items())


def _releases_table(doc: dict[str, Any]) -> str:
    header = ["release", "calls", "pinned", "users", "error rate", "ratings"]
    header += ["thumbs-down rate", "mean score", "p50 ms", "p99 ms"]
    rows = []
    for release, v in doc["releases"].items():
        latency = v["latency_ms"]
        row = [release, v["calls"], v["pinned_calls"], v["users"], v["error_rate"], v["ratings"]]
        row += [v["thumbs_down_rate"], v["mean_score"], latency["p50"], latency["p99"]]
        rows.append(row)
    return _table(header, rows)


def _blast_table(doc: dict[str, Any]) -> str:
    header = ["release", "calls", "users", "until flip back: calls", "users", "window s"]
    header.append("after flip back: calls")
    rows = []
    for release, v in doc["blast_radius"].items():
        until = v.get("until_flip_back") or {}
        window = f"{until['from_s']} to {until['to_s']}" if until else None
        after = (v.get("after_flip_back") or {}).get("calls")
        rows.append([release, v["calls"], v["users"], until.get("calls"), until.get("users")])
        rows[-1] += [window, after]
    return _table(header, rows)


def _segments_table(doc: dict[str, Any]) -> str:
    header = ["from s", "to s", "weights", "users", "calls", "observed user share"]
    header += ["tolerance ±", "ok"]
    rows = []
    for s in doc["split"]["segments"]:
        checks = s["releases"].items()
        shares = " ".join(f"{r}={c['share']:.4f}" for r, c in checks if c["share"] is not None)
        tolerance = " ".join(
            f"{c['tolerance']:.4f}" for _, c in checks if c["tolerance"] is not None
        )
        rows.append([s["from_s"], s["to_s"], _weights_text(s["weights"]), s["users"], s["calls"]])
        rows[-1] += [shares, tolerance, s["ok"]]
    return _table(header, rows)


def _flips_table(doc: dict[str, Any]) -> str:
    header = ["at s", "revision", "action", "all replicas ms"]
    header += [f"replica {n} ms" for n in range(doc["run"]["replicas"])]
    rows = [
        [f["at_s"], f["revision"], f["action"], f["all_replicas_ms"]]
        + [r["by_ms"] for r in f["replicas"]]
        for f in doc["propagation"]["flips"]
    ]
    return _table(header, rows)


def _changes_table(doc: dict[str, Any]) -> str:
    rows = []
    for c in doc["changes"]:
        weights, reason = _weights_text(c["weights"]), c["reason"][:160]
        rows.append([c["at_s"], c["revision"], c["action"], c["actor"], weights, reason])
    return _table(["at s", "revision", "action", "actor", "weights", "reason"], rows)


def render(doc: dict[str, Any]) -> str:
    scenario, outcome, run = doc["scenario"], doc["outcome"], doc["run"]
    badge = "#15803d" if doc["ok"] else "#b91c1c"
    checks = _table(
        ["check", "result", "detail"],
        [[c["name"], "pass" if c["ok"] else "FAIL", c["detail"]] for c in doc["checks"]],
    )
    charts = [
        _split_chart(doc),
        _rate_chart(doc),
        _per_release_chart(doc, "error_rate", "Error rate per release", percent=True),
        _per_release_chart(doc, "thumbs_down_rate", "Thumbs-down rate per release", percent=True),
        _per_release_chart(
            doc,
            "latency_p50_ms",
            "Latency p50 (solid) and p99 (dashed), ms",
            percent=False,
            dashed_key="latency_p99_ms",
        ),
        *_evidence_charts(doc),
        _lateness_chart(doc),
        _propagation_chart(doc),
    ]
    figures = "".join(f"<figure>{chart}</figure>" for chart in charts if chart is not None)
    final = escape(str(outcome["final"]))
    short = " (short form)" if scenario["short"] else ""
    loadavg = " ".join(str(v) for v in run["load_average"])
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Rehearsal: {escape(scenario['name'])}</title><style>{_CSS}</style></head><body>"
        f"<h1>Rehearsal: {escape(scenario['name'])} "
        f"<span class='badge' style='background:{badge}'>{final}</span></h1>"
        f"<p class='muted'>{escape(scenario['description'])}</p>"
        f"<p class='muted'>{escape(run['started_at'])} · {run['mode']} · "
        f"{run['replicas']} gateway replicas · load {run['load_s']:.1f} s{short} · "
        f"seed {scenario['seed']} · load average {loadavg}</p>"
        f"<p>Outcome: <b>{final}</b> (expected {escape(str(outcome['expected']))}): "
        f"{escape(str(outcome['reason']))}</p>"
        f"{checks}<h2>Figures</h2>{_summary(doc)}{figures}"
        f"<h2>Releases</h2>{_releases_table(doc)}<h2>Blast radius</h2>{_blast_table(doc)}"
        f"<h2>Observed split per constant-weight segment</h2>{_segments_table(doc)}"
        f"<h2>Flip propagation</h2>{_flips_table(doc)}"
        f"<h2>Route changes</h2>{_changes_table(doc)}"
        "</body></html>"
    )
