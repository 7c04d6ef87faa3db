"""The rules of a curator's decision, as pure functions: every caller (dashboard, CLI, export, training data,
the store's SQL twin of the effective verdict) means the same thing by them.

- A reject names at least one of REJECT_REASONS.
- The gates suggest a verdict: accept what the pipeline kept, reject the rest with the reason of its failed gate.
- The effective verdict: each curator's latest decision counts; the newest standing (non-pending) one among
  them wins, so one curator's undo withdraws only their own verdict.
- A curator still needs to decide a sample while they have no standing verdict on it and fewer than `overlap`
  curators have one.
- The text that counts (what training and export use): the latest edit by any curator, else the final
  expansion, else the initial response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selflengthen.errors import InputError
from selflengthen.method.gates import GateRules, check_text
from selflengthen.method.words import count_words
from selflengthen.shapes import Decision, Sample

REJECT_REASONS = ("too_short", "repetitive", "off_topic", "truncated", "factual_error", "language_mix",
                  "formatting", "other")


def check_reasons(reasons) -> list[str]:
    """The chosen reject reasons, refused when none or unknown (one-line InputError).

    >>> check_reasons(("too_short", "other"))
    ['too_short', 'other']
    """
    reasons = list(reasons or [])
    unknown = [r for r in reasons if r not in REJECT_REASONS]
    if unknown:
        raise InputError(f"unknown reason '{unknown[0]}' (reasons: {', '.join(REJECT_REASONS)})")
    if not reasons:
        raise InputError("choose at least one reason to reject")
    return reasons


# The gate behind a sample's reject_reason ("generate/no_repeated_ngram", "expand/stage2_longer",
# "filter/drop_short"), stage prefix removed, mapped to the curator's reason that names the same fault.
# A missing end punctuation is a formatting fault: truncation has its own gate, checked before it.
GATE_REASONS = {
    "drop_short": "too_short", "growth": "too_short", "longer": "too_short", "non_empty": "too_short",
    "no_repeated_ngram": "repetitive", "not_truncated": "truncated", "ends_with_punctuation": "formatting",
    "no_meta_talk": "formatting",
}


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


def suggested_verdict(sample: Sample) -> Suggestion:
    """What the gates say: accept what was kept, reject the rest with the reason its failed gate names.

    >>> str(suggested_verdict({"status": "dropped_short", "reject_reason": "filter/drop_short"}))
    'reject (too_short)'
    """
    if sample["status"] == "kept":
        return Suggestion("accept")
    return Suggestion("reject", (reason_for_gate(sample.get("reject_reason")),))




# -- word diff ----------------------------------------------------------------------------------------


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


def needs_decision(latest_per_curator: list[dict], user: str, overlap: int, holders: set[str] = frozenset()) -> bool:
    """Whether `user` should still see this sample: they have no standing verdict on it, and fewer than
    `overlap` curators have one or hold it open now (`holders`: the other curators it is shown to).

    >>> rows = [{"user": "ann", "verdict": "accept"}]
    >>> needs_decision(rows, "bob", 1), needs_decision(rows, "bob", 2), needs_decision(rows, "ann", 2)
    (False, True, False)
    >>> needs_decision([], "bob", 1, holders={"ann"}), needs_decision([], "bob", 2, holders={"ann"})
    (False, True)
    """
    deciders = {r["user"] for r in latest_per_curator if r["verdict"] != "pending"}
    return user not in deciders and len(deciders | (set(holders) - {user})) < overlap


# -- the text that counts ---------------------------------------------------------------------------------

def latest_edit(history: list[Decision]) -> Decision | None:
    """The newest decision row of a sample's history that carries an edited text (any curator's), else None.

    >>> latest_edit([{"id": 1, "edited_text": "a"}, {"id": 2, "edited_text": None}])["id"]
    1
    """
    return next((d for d in reversed(history) if d["edited_text"] is not None), None)


def final_text(sample: Sample, edited_text: str | None = None) -> str:
    """The text a sample stands for: a curator's edit wins, then the final expansion, then (no expansion was
    kept) the initial response.

    >>> final_text({"final_expansion": None, "initial_response": "short"})
    'short'
    >>> final_text({"final_expansion": "long", "initial_response": "short"}, edited_text="mine")
    'mine'
    """
    return edited_text or sample["final_expansion"] or sample["initial_response"]


def edit_concerns(sample: Sample, text: str, rules: GateRules = GateRules()) -> list[str]:
    """Why a curator's edit may be a slip, to confirm before it is kept: it is shorter than the initial response
    (the method keeps texts that grew), or it fails one of the run's text gates.

    >>> sample = {"initial_response": "One two three four five six.", "language": "en"}
    >>> edit_concerns(sample, "One two three")[0]
    'it has 3 words, fewer than the initial response (6)'
    >>> edit_concerns(sample, "One two three")[1]
    "it fails the ends_with_punctuation gate: ends with 'ne two three'"
    >>> edit_concerns(sample, "One two three four five six, and seven.")
    []
    """
    concerns = []
    words, initial = count_words(text), count_words(sample["initial_response"] or "")
    if words < initial:
        concerns.append(f"it has {words} words, fewer than the initial response ({initial})")
    concerns += [f"it fails the {g.gate} gate: {g.reason}" for g in check_text(text, sample["language"], rules=rules)
                 if not g.passed]
    return concerns
