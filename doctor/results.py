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


def size_text(count: int) -> str:
    """1 MiB, 512 KiB, 100 bytes: exact when it can be."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= factor:
            value = count / factor
            return f"{value:g} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{count} bytes"
