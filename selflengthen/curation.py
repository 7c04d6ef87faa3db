"""Curation as plain data: what the gates suggest, who decided what, how far apart curators are.

Everything here is pure (no store, no UI) so the Review tab, the CLI and the tests share one meaning of
"effective verdict", "needs a decision", "suggested verdict" and "agreement".
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher
from statistics import fmean

from selflengthen.errors import InputError
from selflengthen.review import REJECT_REASONS
from selflengthen.words import CJK_CHAR

SAMPLE_STATUSES = ("generated", "failed_generation", "expanded", "failed_expansion", "kept", "dropped_short")
VERDICT_FILTERS = ("all", "pending", "accept", "reject")
STATUS_FILTERS = ("all", "passed", "failed gates", *SAMPLE_STATUSES)

# The gate behind a sample's reject_reason ("generate/no_repeated_ngram", "expand/stage2_longer",
# "filter/drop_short"), stage prefix removed, mapped to the curator's reason that names the same fault.
# A missing end punctuation is a formatting fault: truncation has its own gate, checked before it.
GATE_REASONS = {
    "drop_short": "too_short", "growth": "too_short", "longer": "too_short", "non_empty": "too_short",
    "no_repeated_ngram": "repetitive", "not_truncated": "truncated", "ends_with_punctuation": "formatting",
}
VERDICT_VERBS = {"accept": "accepted", "reject": "rejected", "pending": "reset to pending"}


@dataclass(frozen=True)
class Suggestion:
    verdict: str
    reasons: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.verdict} ({', '.join(self.reasons)})" if self.reasons else self.verdict


def reason_for_gate(reject_reason: str | None) -> str:
    """The curator's reason for a pipeline reject_reason.

    >>> [reason_for_gate(r) for r in ("filter/drop_short", "expand/stage1_no_repeated_ngram", "generate/x", None)]
    ['too_short', 'repetitive', 'other', 'other']
    """
    gate = (reject_reason or "").rpartition("/")[2]
    gate = re.sub(r"^stage\d_", "", gate)
    return GATE_REASONS.get(gate, "other")


def suggested_verdict(sample: dict) -> Suggestion:
    """What the gates say: accept what was kept, reject the rest with the reason its failed gate names.

    >>> str(suggested_verdict({"status": "dropped_short", "reject_reason": "filter/drop_short"}))
    'reject (too_short)'
    """
    if sample["status"] == "kept":
        return Suggestion("accept")
    return Suggestion("reject", (reason_for_gate(sample.get("reject_reason")),))


# -- the gates of one sample, as table rows -----------------------------------------------------------

def _gate_row(step: str, gate: dict) -> list:
    return [step, gate.get("gate", ""), "pass" if gate.get("passed") else "FAIL", gate.get("reason", "")]


def _filter_row(verdict: dict) -> list:
    if verdict.get("disabled"):
        return ["filter", "drop_short", "pass", "filter disabled"]
    reason = f"rank {verdict.get('rank')}, r {verdict.get('r')}, keep probability {verdict.get('keep_probability')}"
    return ["filter", "drop_short", "pass" if verdict.get("kept") else "FAIL", reason]


def _step_order(step: str) -> tuple:
    rounds = re.fullmatch(r"expand_round_(\d+)", step)
    order = {"generate": 0, "growth": 2, "filter": 3}
    return (1, int(rounds.group(1))) if rounds else (order.get(step, 4), 0)


def gate_rows(gates: dict) -> list[list]:
    """[step, gate, pass/FAIL, reason] for every gate a sample went through, in pipeline order.

    >>> gate_rows({"growth": {"gate": "growth", "passed": False, "reason": "1.1x"},
    ...            "generate": [{"gate": "non_empty", "passed": True, "reason": ""}]})
    [['generate', 'non_empty', 'pass', ''], ['growth', 'growth', 'FAIL', '1.1x']]
    """
    rows = []
    for step in sorted(gates, key=_step_order):
        value = gates[step]
        if step == "filter":
            rows.append(_filter_row(value))
        elif isinstance(value, list):
            rows.extend(_gate_row(step.replace("_", " "), g) for g in value)
        elif isinstance(value, dict):
            rows.append(_gate_row(step, value))
    return rows


# -- word diff ----------------------------------------------------------------------------------------

_CJK = CJK_CHAR.pattern[1:-1]
# Tokens keep their trailing whitespace, so joining them gives the text back and difflib compares few,
# long-ish items (splitting spaces into tokens of their own makes it about 200x slower on 3,000 words).
_TOKEN = re.compile(rf"^\s+|[{_CJK}]\s*|[^\s{_CJK}]+\s*")


def word_tokens(text: str) -> list[str]:
    """Words with their trailing whitespace (each CJK character is a word).

    >>> word_tokens(" Hi there,\\nyou 好的")
    [' ', 'Hi ', 'there,\\n', 'you ', '好', '的']
    """
    return _TOKEN.findall(text)


def word_diff(before: str, after: str) -> list[tuple[str, str | None]]:
    """(text, None | "removed" | "added") spans turning `before` into `after`, for gr.HighlightedText.

    Words are compared without their trailing whitespace; unchanged spans are taken from `after`, so the
    spans that are not "removed" join back into `after` exactly.
    >>> word_diff("the cat sat", "the big cat sat down")
    [('the ', None), ('big ', 'added'), ('cat sat ', None), ('down', 'added')]
    """
    a, b = word_tokens(before or ""), word_tokens(after or "")
    matcher = SequenceMatcher(None, [t.rstrip() for t in a], [t.rstrip() for t in b])
    spans: list[tuple[str, str | None]] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            _append(spans, "".join(b[j1:j2]), None)
            continue
        if i2 > i1:
            _append(spans, "".join(a[i1:i2]), "removed")
        if j2 > j1:
            _append(spans, "".join(b[j1:j2]), "added")
    return spans


def _append(spans: list, text: str, category: str | None) -> None:
    if spans and spans[-1][1] == category:
        spans[-1] = (spans[-1][0] + text, category)
    else:
        spans.append((text, category))


# -- who decided: effective verdicts and the queue under overlap ---------------------------------------

def effective_decision(latest_per_curator: list[dict]) -> dict | None:
    """The decision that counts for one sample, from each curator's latest decision row on it.

    The most recent non-pending one wins; when every curator's latest is 'pending' (all undone), the
    newest pending row; None when nobody decided. So an undo withdraws only its own curator's verdict.

    >>> rows = [{"id": 1, "verdict": "accept"}, {"id": 2, "verdict": "reject"}, {"id": 3, "verdict": "pending"}]
    >>> effective_decision(rows[1:])["verdict"], effective_decision(rows[2:])["verdict"]
    ('reject', 'pending')
    """
    if not latest_per_curator:
        return None
    decided = [r for r in latest_per_curator if r["verdict"] != "pending"]
    return max(decided or latest_per_curator, key=lambda r: r["id"])


def latest_per_curator(history: list[dict]) -> list[dict]:
    """Each curator's latest row of one sample's decision history (rows with id and user)."""
    latest: dict[str, dict] = {}
    for row in sorted(history, key=lambda r: r["id"]):
        latest[row["user"]] = row
    return list(latest.values())


def needs_decision(latest_per_curator: list[dict], user: str, overlap: int) -> bool:
    """Whether `user` should still see this sample: they have no standing verdict on it, and fewer than
    `overlap` curators have one.

    >>> rows = [{"user": "ann", "verdict": "accept"}]
    >>> needs_decision(rows, "bob", 1), needs_decision(rows, "bob", 2), needs_decision(rows, "ann", 2)
    (False, True, False)
    """
    deciders = {r["user"] for r in latest_per_curator if r["verdict"] != "pending"}
    return user not in deciders and len(deciders) < overlap


# -- agreement between curators ------------------------------------------------------------------------

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


# -- filters and one-line texts ---------------------------------------------------------------------------

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


def progress_line(total: int, counts: dict[str, int]) -> str:
    """The curation progress of an iteration.

    >>> progress_line(40, {"accept": 10, "reject": 2, "pending": 1})
    '12 of 40 decided · 10 accepted · 2 rejected'
    """
    accepted, rejected = counts.get("accept", 0), counts.get("reject", 0)
    return f"{accepted + rejected} of {total} decided · {accepted} accepted · {rejected} rejected"


def conflict_message(sample_id: int, newer: dict) -> str:
    """Why a decision was held back: another curator decided differently after this one opened the sample.

    >>> conflict_message(12, {"verdict": "reject", "user": "bob", "created_at": "2026-01-02T10:02:33.120+00:00"})
    'sample 12 was rejected by bob at 10:02 after you opened it — press again to override'
    """
    stamp = (newer.get("created_at") or "")[11:16] or "?"
    who = newer.get("user") or "another curator"
    return f"sample {sample_id} was {VERDICT_VERBS[newer['verdict']]} by {who} at {stamp} after you opened it — " \
           "press again to override"


def _name(user: str) -> str:
    return user or "anonymous"


def headline(sample: dict, position: int, total: int, edited_by: str | None = None) -> str:
    """The line above a sample: its id, place in the list, the verdict that counts and who gave it.

    `sample` carries `latest_per_curator` (each curator's latest decision row).
    >>> rows = [{"id": 7, "user": "ann", "verdict": "accept"}, {"id": 9, "user": "bob", "verdict": "reject"}]
    >>> headline({"id": 12, "status": "kept", "language": "en", "growth": 2.5, "latest_per_curator": rows}, 2, 40)
    'Sample 12 · 3 of 40 · verdict: reject by bob (also ann: accept) · status kept · en · growth 2.50x'
    """
    latest = sample["latest_per_curator"]
    effective = effective_decision(latest)
    verdict = effective["verdict"] if effective else "pending"
    by = f" by {_name(effective['user'])}" if verdict != "pending" else ""
    others = [f"{_name(r['user'])}: {r['verdict']}" for r in latest
              if r["verdict"] != "pending" and r["id"] != effective["id"]]
    parts = [f"Sample {sample['id']}", f"{position + 1} of {total}",
             f"verdict: {verdict}{by}" + (f" (also {', '.join(others)})" if others else ""),
             f"status {sample['status']}", sample["language"]]
    if sample.get("growth") is not None:
        parts.append(f"growth {sample['growth']:.2f}x")
    if edited_by is not None:
        parts.append(f"final text edited by {_name(edited_by)}")
    return " · ".join(parts)


def check_reasons(reasons) -> list[str]:
    """The chosen reject reasons, refused when none or unknown (one-line InputError)."""
    reasons = list(reasons or [])
    unknown = [r for r in reasons if r not in REJECT_REASONS]
    if unknown:
        raise InputError(f"unknown reason '{unknown[0]}' (reasons: {', '.join(REJECT_REASONS)})")
    if not reasons:
        raise InputError("choose at least one reason to reject")
    return reasons
