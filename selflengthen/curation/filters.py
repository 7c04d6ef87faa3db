"""Which samples of an iteration a curator sees: the filter choices and the checked filter the store runs."""

from __future__ import annotations

from dataclasses import dataclass

from selflengthen.errors import InputError


SAMPLE_STATUSES = ("generated", "failed_generation", "dropped_initial", "expanded", "failed_expansion", "kept",
                   "dropped_short")


VERDICT_FILTERS = ("all", "pending", "accept", "reject")


STATUS_FILTERS = ("all", "passed", "failed gates", *SAMPLE_STATUSES)


def _optional_number(value, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number (got {value!r})") from None
    if number < 0:
        raise InputError(f"{name} cannot be negative (got {number:g})")
    return number


@dataclass(frozen=True)
class ReviewFilter:
    """Which samples of one iteration the curator sees. The store turns it into one query."""

    iteration_id: int
    verdict: str = "all"
    status: str = "all"
    gate: str = "all"
    language: str = "all"
    min_words: float | None = None
    max_words: float | None = None
    min_growth: float | None = None
    max_growth: float | None = None
    search: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICT_FILTERS:
            raise InputError(f"verdict filter must be one of {', '.join(VERDICT_FILTERS)} (got {self.verdict!r})")
        if self.status not in STATUS_FILTERS:
            raise InputError(f"status filter must be one of {', '.join(STATUS_FILTERS)} (got {self.status!r})")
        for low, high, what in (("min_words", "max_words", "words"), ("min_growth", "max_growth", "growth")):
            lo = _optional_number(getattr(self, low), f"minimum {what}")
            hi = _optional_number(getattr(self, high), f"maximum {what}")
            if lo is not None and hi is not None and lo > hi:
                raise InputError(f"minimum {what} ({lo:g}) is more than maximum {what} ({hi:g})")
            object.__setattr__(self, low, lo)
            object.__setattr__(self, high, hi)
        object.__setattr__(self, "search", (self.search or "").strip())
        for name in ("gate", "language"):
            object.__setattr__(self, name, getattr(self, name) or "all")
