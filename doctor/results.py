"""What a check found: a status, one line saying what, and what to change when it is not OK."""

from __future__ import annotations

from dataclasses import dataclass

OK = "OK"
WARN = "WARN"
FAIL = "FAIL"
SKIP = "SKIP"


@dataclass(frozen=True)
class Result:
    check: str
    status: str
    summary: str
    advice: tuple[str, ...] = ()


def ok(check: str, summary: str) -> Result:
    return Result(check, OK, summary)


def warn(check: str, summary: str, *advice: str) -> Result:
    return Result(check, WARN, summary, advice)


def fail(check: str, summary: str, *advice: str) -> Result:
    return Result(check, FAIL, summary, advice)


def skip(check: str, summary: str) -> Result:
    return Result(check, SKIP, summary)
