"""Per-(route, release) call aggregates, recorded on the hot path with plain integer adds."""

from gateway.telemetry.histogram import bucket_index, new_counts

# Error classes, also the `class` label of request counters.
OK = "ok"
UPSTREAM_4XX = "upstream_4xx"
UPSTREAM_5XX = "upstream_5xx"
TIMEOUT = "timeout"
CONNECT = "connect"
GATEWAY = "gateway"
CLIENT = "client"  # refused after resolution for the caller's input (e.g. a missing variable)
HISTOGRAMS = ("latency", "upstream", "added", "ttft")
OUTCOMES = (OK, UPSTREAM_4XX, UPSTREAM_5XX, TIMEOUT, CONNECT, GATEWAY, CLIENT)


class ReleaseStats:
    """Cumulative counters of one release of one route in this process."""

    __slots__ = (
        "added",
        "latency",
        "outcomes",
        "release",
        "route",
        "status_classes",
        "sums",
        "ttft",
        "upstream",
    )

    def __init__(self, route: str, release: str) -> None:
        self.route = route
        self.release = release
        self.outcomes: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self.status_classes: dict[str, int] = {}
        self.latency = new_counts()  # end to end, seconds
        self.upstream = new_counts()  # upstream answer time (to last byte)
        self.added = new_counts()  # gateway-added time: end to end minus upstream
        self.ttft = new_counts()  # time to first streamed byte
        self.sums: dict[str, float] = dict.fromkeys(HISTOGRAMS, 0.0)  # seconds, per histogram

    def record(
        self,
        status: int,
        outcome: str,
        total_s: float,
        upstream_s: float | None,
        ttft_s: float | None = None,
    ) -> None:
        self.outcomes[outcome] += 1
        status_class = f"{status // 100}xx"
        self.status_classes[status_class] = self.status_classes.get(status_class, 0) + 1
        sums = self.sums
        self.latency[bucket_index(total_s)] += 1
        sums["latency"] += total_s
        if upstream_s is not None:
            added_s = max(total_s - upstream_s, 0.0)
            self.upstream[bucket_index(upstream_s)] += 1
            self.added[bucket_index(added_s)] += 1
            sums["upstream"] += upstream_s
            sums["added"] += added_s
        if ttft_s is not None:
            self.ttft[bucket_index(ttft_s)] += 1
            sums["ttft"] += ttft_s


class Recorder:
    """All release aggregates of this process, created when a release is first served."""

    def __init__(self) -> None:
        self.releases: dict[tuple[str, str], ReleaseStats] = {}
        self.rejected: dict[str, int] = {}  # calls refused before a route was resolved, by code

    def stats_for(self, route: str, release: str) -> ReleaseStats:
        key = (route, release)
        stats = self.releases.get(key)
        if stats is None:
            stats = self.releases[key] = ReleaseStats(route, release)
        return stats

    def reject(self, code: str) -> None:
        self.rejected[code] = self.rejected.get(code, 0) + 1

    def retain(self, live: set[tuple[str, str]]) -> None:
        """Forget releases no longer served, bounding label cardinality."""
        for key in [k for k in self.releases if k not in live]:
            del self.releases[key]
