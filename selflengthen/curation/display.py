"""What a curator reads about one sample, as plain text and rows: the gates table, the word diff, the headline
and the progress line. Pure; the Review tab shows these, escaped.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from selflengthen.curation.rules import effective_decision
from selflengthen.method.padding import measure_padding, padding_verdict
from selflengthen.method.words import CJK_CHAR
from selflengthen.shapes import Sample


def _gate_row(step: str, gate: dict) -> list:
    return [step, gate.get("gate", ""), "pass" if gate.get("passed") else "FAIL", gate.get("reason", "")]


def padding_row(text: str, limit: float = 0.0) -> list:
    """The padding guard's row for the text that counts: its measures, and pass / FAIL against the run's limit
    (`gates.padding`; 0: measured only, shown as "off").

    >>> padding_row("The sea is calm. The sea is calm.", 0.25)[2:]
    ['FAIL', '4-word runs repeated 20% · sentences repeated 50% · distinct pairs 57% · compression 0.85']
    >>> padding_row("The sea is calm.")[2]
    'off'
    """
    m = measure_padding(text or "")
    shown = (f"4-word runs repeated {m.repeated_ngrams:.0%} · sentences repeated {m.repeated_sentences:.0%} · "
             f"distinct pairs {m.distinct_2:.0%} · compression {m.compression:.2f}")
    result = "off" if limit <= 0 else "pass" if padding_verdict(m, limit, limit)[0] else "FAIL"
    return ["padding", "no_padding", result, shown]


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


def progress_line(total: int, counts: dict[str, int]) -> str:
    """The curation progress of an iteration.

    >>> progress_line(40, {"accept": 10, "reject": 2, "pending": 1})
    '12 of 40 decided · 10 accepted · 2 rejected'
    """
    accepted, rejected = counts.get("accept", 0), counts.get("reject", 0)
    return f"{accepted + rejected} of {total} decided · {accepted} accepted · {rejected} rejected"


def _name(user: str) -> str:
    return user or "anonymous"


def headline(sample: Sample, position: int, total: int, edited_by: str | None = None) -> str:
    """The line above a sample: its id, place in the list, the verdict that counts and who gave it.

    `sample` carries `latest_per_curator` (each curator's latest decision row).
    >>> rows = [{"id": 7, "user": "ann", "verdict": "accept"}, {"id": 9, "user": "bob", "verdict": "reject"}]
    >>> headline({"id": 12, "status": "kept", "language": "en", "growth": 2.5, "latest_per_curator": rows}, 2, 40)
    'Sample 12 · 3 of 40 · verdict: reject by bob (also ann: accept) · status kept · en · growth 2.50x'
    >>> headline({"id": 13, "status": "kept", "language": "en", "siblings": [12], "latest_per_curator": []}, 3, 40)
    'Sample 13 · 4 of 40 · verdict: pending · status kept · en · same initial response as sample 12'
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
    if sample.get("siblings"):
        parts.append(f"same initial response as sample {', '.join(map(str, sample['siblings']))}")
    if edited_by is not None:
        parts.append(f"final text edited by {_name(edited_by)}")
    if sample.get("iteration_idx") is not None:
        parts.append(f"iteration {sample['iteration_idx']}")
    return " · ".join(parts)
