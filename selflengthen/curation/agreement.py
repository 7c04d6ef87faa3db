"""How far apart curators are: Cohen's kappa for two, Fleiss' kappa for more."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from statistics import fmean


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items; None when chance agreement is 1 (undefined).

    Worked example: 50 items, both "yes" on 20, both "no" on 15, split 5 and 10: p_o = 0.7, p_e = 0.5.
    >>> round(cohen_kappa([("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15), 3)
    0.4
    """
    n = len(pairs)
    if n == 0:
        return None
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    p_o = sum(a == b for a, b in pairs) / n
    p_e = sum(first[c] * second[c] for c in first) / (n * n)
    return None if p_e == 1 else (p_o - p_e) / (1 - p_e)


def fleiss_kappa(items: list[dict[str, int]]) -> float | None:
    """Fleiss' kappa over items rated by varying numbers of raters ({category: raters} per item).

    Items with fewer than 2 ratings are left out. P_i = (sum_j n_ij^2 - n_i) / (n_i (n_i - 1)); p_j pools
    every rating of the items used. None when there is no item, or chance agreement is 1 (undefined).
    >>> round(fleiss_kappa([{"a": 2}, {"a": 1, "b": 1}, {"b": 2}, {"a": 2}]), 3)
    0.467
    """
    rated = [item for item in items if sum(item.values()) >= 2]
    if not rated:
        return None
    agreement = fmean((sum(n * n for n in item.values()) - sum(item.values()))
                      / (sum(item.values()) * (sum(item.values()) - 1)) for item in rated)
    totals = Counter()
    for item in rated:
        totals.update(item)
    ratings = sum(totals.values())
    chance = sum((n / ratings) ** 2 for n in totals.values())
    return None if chance == 1 else (agreement - chance) / (1 - chance)


@dataclass(frozen=True)
class Agreement:
    method: str  # "cohen", "fleiss" or "none"
    kappa: float | None
    samples: int
    curators: tuple[str, ...]

    def __str__(self) -> str:
        names = ", ".join(c or "anonymous" for c in self.curators)
        if self.method == "none":
            return f"needs two curators ({'only ' + names if names else 'no decisions yet'})"
        label = "Cohen's kappa" if self.method == "cohen" else "Fleiss' kappa"
        if self.samples == 0:
            return f"{label}: no sample decided by two curators yet ({names})"
        if self.kappa is None:
            return f"{label} undefined: every verdict is the same over {self.samples} samples ({names})"
        return f"{label} {self.kappa:.2f} over {self.samples} samples ({names})"


def curator_agreement(verdicts: dict[int, dict[str, str]]) -> Agreement:
    """Agreement from {sample_id: {curator: latest non-pending verdict}}: Cohen's kappa for two curators
    (on the samples both decided), Fleiss' kappa for more (on samples with at least two verdicts)."""
    curators = tuple(sorted({user for by_user in verdicts.values() for user in by_user}))
    if len(curators) < 2:
        return Agreement("none", None, 0, curators)
    if len(curators) == 2:
        a, b = curators
        pairs = [(v[a], v[b]) for v in verdicts.values() if a in v and b in v]
        return Agreement("cohen", cohen_kappa(pairs), len(pairs), curators)
    items = [dict(Counter(v.values())) for v in verdicts.values() if len(v) >= 2]
    return Agreement("fleiss", fleiss_kappa(items), len(items), curators)
