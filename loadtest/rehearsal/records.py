"""What the generator saw, one row per scheduled call: the run's ground truth for every figure
in the report. Preallocated numpy columns (no per-call objects); no I/O.
"""

import numpy as np
import numpy.typing as npt

PENDING, ANSWERED, LOST, SHED, UNSENT = 0, 1, 2, 3, 4
OUTCOMES = ("pending", "answered", "lost", "shed", "unsent")
NO_FEEDBACK, UP, DOWN, SCORE = 0, 1, 2, 3
FEEDBACK_KINDS = ("none", "up", "down", "score")
UNKNOWN_RELEASE = -1


class CallLog:
    """Times are seconds from the start of the load on the generator's monotonic clock."""

    def __init__(self, size: int, releases: list[str]) -> None:
        self.releases = list(releases)  # index -> release id (extended by unexpected headers)
        self._index = {release: n for n, release in enumerate(self.releases)}
        nan = np.nan
        self.lag_s: npt.NDArray[np.float64] = np.full(size, nan)  # fired minus due
        self.sent_s: npt.NDArray[np.float64] = np.full(size, nan)
        self.done_s: npt.NDArray[np.float64] = np.full(size, nan)
        self.first_byte_s: npt.NDArray[np.float64] = np.full(size, nan)  # streams: first event
        self.outcome = np.zeros(size, dtype=np.int8)
        self.status = np.zeros(size, dtype=np.int16)  # HTTP status, 0 when none came
        self.release = np.full(size, UNKNOWN_RELEASE, dtype=np.int16)  # X-Turnout-Release
        self.replica = np.full(size, -1, dtype=np.int8)
        self.feedback = np.zeros(size, dtype=np.int8)  # what the user decided to send
        self.score = np.full(size, nan)
        self.feedback_sent_s: npt.NDArray[np.float64] = np.full(size, nan)
        self.feedback_status = np.zeros(size, dtype=np.int16)  # 202 when accepted
        self.transport_errors: dict[str, int] = {}

    def __len__(self) -> int:
        return int(self.outcome.size)

    def release_index(self, release: str | None) -> int:
        if release is None:
            return UNKNOWN_RELEASE
        index = self._index.get(release)
        if index is None:
            index = self._index[release] = len(self.releases)
            self.releases.append(release)
        return index

    def lost(self, row: int, kind: str) -> None:
        self.outcome[row] = LOST
        self.transport_errors[kind] = self.transport_errors.get(kind, 0) + 1
