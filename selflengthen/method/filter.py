"""The drop-short filter as a pure function: rank expanded samples by length and drop the shorter ones at random.

Rank the N expanded samples by final words (shortest first, ties in the order given: the stages give them by
instruction and slot, which no timing changes); the item at rank i gets
r = 1 - i/N (the shortest has r = 1) and is kept with probability 1 - 2r^3. So roughly the shortest
20 % always go and about 60 % of all are kept.
"""

from __future__ import annotations

import random


def keep_probability(rank: int, n: int) -> float:
    """Probability of keeping the item at `rank` (0 = shortest) of `n`.

    >>> keep_probability(0, 10)
    -1.0
    >>> round(keep_probability(9, 10), 3)
    0.998
    """
    r = 1 - rank / n
    return 1 - 2 * r ** 3


def drop_short(items: list[tuple[int, int]], seed: int) -> dict[int, dict]:
    """{id: {rank, r, keep_probability, kept}} for (id, words) items (equal words keep their given order).

    >>> decisions = drop_short([(i, 10 * i) for i in range(100)], seed=0)
    >>> sum(d["kept"] for d in decisions.values()) in range(45, 75)
    True
    >>> any(decisions[i]["kept"] for i in range(20))
    False
    """
    rng = random.Random(seed)
    ordered = sorted(items, key=lambda item: item[1])  # stable: ties stay in the order given
    n = len(ordered)
    out = {}
    for rank, (item_id, _) in enumerate(ordered):
        p = keep_probability(rank, n)
        draw = rng.random()
        out[item_id] = {"rank": rank, "r": round(1 - rank / n, 6), "keep_probability": round(p, 6),
                        "kept": draw < p}
    return out
