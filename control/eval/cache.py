"""The eval runner's local result cache: one JSON line per finished answer or rating.

Keyed by what determines the result: the route, the case's content, the release (immutable),
the sample number, and for ratings the judge route and release too. Appended and flushed line
by line, so a run that is interrupted resumes from what it finished; a torn last line is ignored.
"""

import hashlib
from pathlib import Path
from typing import IO

import msgspec

from control.eval.calls import Answer
from control.eval.dataset import Case


class Entry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    key: str
    answer: Answer


def case_digest(case: Case) -> str:
    return hashlib.sha256(msgspec.json.encode(case)).hexdigest()[:32]


def answer_key(route: str, case: Case, release: str, sample: int) -> str:
    return f"answer|{route}|{case_digest(case)}|{release}|{sample}"


def rating_key(route: str, case: Case, release: str, sample: int, judge: str, metric: str) -> str:
    """`judge` is "<judge route>/<judge release>"; the metric names the rubric and scale used."""
    return f"rating|{route}|{case_digest(case)}|{release}|{sample}|{judge}|{metric}"


_decoder = msgspec.json.Decoder(Entry)
_encoder = msgspec.json.Encoder()


class ResultCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, Answer] = {}
        self._handle: IO[bytes] | None = None
        self._torn = False  # the file does not end in a newline: start on a fresh line
        if path.exists():
            content = path.read_bytes()
            self._torn = bool(content) and not content.endswith(b"\n")
            for line in content.splitlines():
                try:
                    entry = _decoder.decode(line)
                except msgspec.DecodeError:  # a line torn by an interrupted write
                    continue
                self.entries[entry.key] = entry.answer

    def get(self, key: str) -> Answer | None:
        return self.entries.get(key)

    def put(self, key: str, answer: Answer) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("ab")
            if self._torn:
                self._handle.write(b"\n")
        self._handle.write(_encoder.encode(Entry(key, answer)) + b"\n")
        self._handle.flush()
        self.entries[key] = answer

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
