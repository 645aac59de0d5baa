"""Per-(route, release) call aggregates, recorded on the hot path with plain integer adds.

Counters are cumulative for the life of the process (Prometheus reads them as they are); the
flusher sends their growth to Redis. Memory is bounded by the number of live releases plus the
bounded queue of call ids awaiting their Redis record.
"""

import hashlib

from gateway.contract.histogram import bucket_index, new_counts
from gateway.contract.telemetry import STICKY_KEYS_PER_FLUSH, cost_usd
from gateway.telemetry.ledger import CallLedger

# Outcome classes, also the `outcome` label of the outcome counter.
OK = "ok"
UPSTREAM_4XX = "upstream_4xx"
UPSTREAM_5XX = "upstream_5xx"
TIMEOUT = "timeout"
CONNECT = "connect"
GATEWAY = "gateway"
CLIENT = "client"  # refused after resolution for the caller's input, or the caller went away
HISTOGRAMS = ("latency", "upstream", "added", "ttft")
OUTCOMES = (OK, UPSTREAM_4XX, UPSTREAM_5XX, TIMEOUT, CONNECT, GATEWAY, CLIENT)
FEEDBACK_KINDS = ("up", "down", "score")

_STATUS_CLASSES = ("0xx", "1xx", "2xx", "3xx", "4xx", "5xx")
DEFAULT_CALL_QUEUE_LIMIT = 100_000
MAX_KEY_CHARS = 128


class ReleaseStats:
    """Cumulative counters of one release of one route in this process."""

    __slots__ = (
        "added",
        "code",
        "fallbacks",
        "feedback",
        "input_usd_per_mtok",
        "keyed",
        "keys",
        "keys_dropped",
        "latency",
        "outcomes",
        "output_usd_per_mtok",
        "record_users_s",
        "release",
        "retries",
        "route",
        "status_classes",
        "sums",
        "tokens_in",
        "tokens_out",
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
        self.tokens_in = 0
        self.tokens_out = 0
        self.keyed = 0  # calls placed by their sticky key (see telemetry.KEYED)
        self.input_usd_per_mtok = 0.0  # set from the model version when the release is compiled
        self.output_usd_per_mtok = 0.0
        self.feedback: dict[str, int] = dict.fromkeys(FEEDBACK_KINDS, 0)  # posted to this process
        self.code = 0  # in the call ledger, once it served a call
        # Distinct sticky keys since the last flush (which takes the set and PFADDs it); capped
        # so a flood of new keys cannot grow memory: keys past the cap are counted, not kept.
        self.keys: set[str] = set()
        self.keys_dropped = 0
        self.record_users_s = 0  # the route's opt-in retention (0: do not record user keys)
        self.retries = 0  # upstream attempts repeated (a call may repeat several)
        self.fallbacks = 0  # failed calls answered by the route's stable release instead

    @property
    def cost_usd(self) -> float:
        return cost_usd(
            self.tokens_in, self.tokens_out, self.input_usd_per_mtok, self.output_usd_per_mtok
        )

    def note_key(self, key: str) -> None:
        if len(key) > MAX_KEY_CHARS:  # a long key is stored by its digest (bounded memory)
            key = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        keys = self.keys
        if len(keys) < STICKY_KEYS_PER_FLUSH or key in keys:
            keys.add(key)
        else:
            self.keys_dropped += 1

    def record(
        self,
        status: int,
        outcome: str,
        total_s: float,
        upstream_s: float | None,
        ttft_s: float | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
        keyed: bool = False,
    ) -> None:
        self.outcomes[outcome] += 1
        if keyed:  # counted with the call, like `outcomes`, so the two always agree
            self.keyed += 1
        hundreds = status // 100
        status_class = _STATUS_CLASSES[hundreds] if 1 <= hundreds <= 5 else f"{hundreds}xx"
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
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out


class CallOutcome:
    """What one call came to, filled in as it goes and recorded once when it ends.

    Starts as a gateway failure (500): a call that leaves any other way than the paths that set
    its result is counted as the gateway's fault, never lost.
    """

    __slots__ = (
        "first_byte_s",
        "keyed",
        "outcome",
        "started",
        "status",
        "tokens_in",
        "tokens_out",
        "upstream_started",
    )

    def __init__(self, started: float) -> None:
        self.started = started  # perf_counter at arrival
        self.upstream_started: float | None = None  # perf_counter when sent upstream
        self.status = 500
        self.outcome = GATEWAY
        self.first_byte_s: float | None = None  # streaming: time to the first upstream byte
        self.tokens_in = 0
        self.tokens_out = 0
        self.keyed = False  # its release was placed by its sticky key

    def end(self, status: int, outcome: str) -> None:
        self.status = status
        self.outcome = outcome

    def record(self, stats: "ReleaseStats", ended: float) -> None:
        upstream = self.upstream_started
        stats.record(
            self.status,
            self.outcome,
            ended - self.started,
            None if upstream is None else ended - upstream,
            self.first_byte_s,
            self.tokens_in,
            self.tokens_out,
            self.keyed,
        )


class Recorder:
    """All release aggregates of this process, created when a release is first served."""

    def __init__(self, call_queue_limit: int = DEFAULT_CALL_QUEUE_LIMIT) -> None:
        self.releases: dict[tuple[str, str], ReleaseStats] = {}
        self.retired: list[ReleaseStats] = []  # dropped from the table, not yet fully flushed
        self.rejected: dict[str, int] = {}  # calls refused before a route was resolved, by code
        # which release served each call, waiting to be written to Redis (feedback attribution)
        self.ledger = CallLedger(call_queue_limit)
        # bounded buffers that refused an item: call ids queued for Redis, SSE events too large
        # for the usage scan (relayed, not scanned), sticky keys past the per-flush cap (served,
        # not counted among the distinct keys)
        self.dropped: dict[str, int] = {"call_ids": 0, "sse_events": 0, "sticky_keys": 0}
        self.upstream_refused: dict[str, int] = {}  # upstream answers refused, by error code
        self.apps: dict[tuple[str, str], int] = {}  # (client app, route) -> calls
        # eval-gate calls per (route, release): Prometheus only, never flushed to Redis
        self.evals: dict[tuple[str, str], ReleaseStats] = {}

    def count_app(self, app: str, route: str) -> None:
        key = (app, route)
        self.apps[key] = self.apps.get(key, 0) + 1

    def stats_for(self, route: str, release: str) -> ReleaseStats:
        key = (route, release)
        stats = self.releases.get(key)
        if stats is None:
            stats = self.releases[key] = ReleaseStats(route, release)
        return stats

    def eval_stats_for(self, live: ReleaseStats) -> ReleaseStats:
        key = (live.route, live.release)
        stats = self.evals.get(key)
        if stats is None:
            stats = self.evals[key] = ReleaseStats(live.route, live.release)
        return stats

    def note_call(self, minute: int, number: int, stats: ReleaseStats) -> None:
        code = stats.code or self._code(stats)
        if not self.ledger.note(minute, number, code):
            self.dropped["call_ids"] += 1

    def _code(self, stats: ReleaseStats) -> int:
        stats.code = self.ledger.code(stats.route, stats.release)
        return stats.code

    def refuse_upstream(self, code: str) -> None:
        self.upstream_refused[code] = self.upstream_refused.get(code, 0) + 1

    def reject(self, code: str) -> None:
        self.rejected[code] = self.rejected.get(code, 0) + 1

    def retain(self, live: set[tuple[str, str]]) -> None:
        """Stop exposing releases no longer served (bounded labels); flush them one last time."""
        for key in [k for k in self.releases if k not in live]:
            self.retired.append(self.releases.pop(key))
        for key in [k for k in self.evals if k not in live]:
            del self.evals[key]
