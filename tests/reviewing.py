"""One curator's Review tab, driven through its handlers as Gradio would (states fed back in), and the stores the
Review tests start from (fixtures, loaded by conftest as a plugin)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from scripted import reviewed_run
from studios import studio_for
from ui import review_handlers as review

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def value(output):
    """The value a handler gave a component (a plain value, or the value of a gr.update)."""
    return output.get("value") if isinstance(output, dict) and output.get("__type__") == "update" else output


class Session:
    """One curator's browser tab: keeps the states Gradio keeps and feeds them back into each handler."""

    def __init__(self, store, user="", run="r", diff_on=False):
        self.studio, self.store, self.run, self.diff_on = studio_for(store), store, run, diff_on
        self.request = SimpleNamespace(username=user)
        self.bulk = {}
        self.take(review.load_run(self.studio, run, diff_on, self.request), review.LOAD_FIELDS)

    def take(self, outputs, fields=review.VIEW_FIELDS):
        self.view = dict(zip(fields, outputs))
        if "ids" in fields and isinstance(self.view["ids"], list):
            self.ids = self.view["ids"]
        self.cursor = self.view["cursor"]
        if "bulk" in fields and isinstance(self.view["bulk"], dict) and "__type__" not in self.view["bulk"]:
            self.bulk = self.view["bulk"]
        return self.view

    @property
    def sample_id(self):
        return self.cursor["sample_id"]

    @property
    def message(self):
        return self.view["message"]

    def nav(self):
        return self.studio, self.run, self.ids, self.cursor

    def accept(self, note=""):
        return self.take(review.accept(*self.nav(), note, self.diff_on, self.request))

    def reject(self, reasons, note=""):
        return self.take(review.reject(*self.nav(), reasons, note, self.diff_on, self.request))

    def save_edit(self, text):
        return self.take(review.save_edit(*self.nav(), text, "", self.diff_on, self.request))

    def undo(self):
        return self.take(review.undo(*self.nav(), self.diff_on, self.request))

    def next(self):
        return self.take(review.go_next(*self.nav(), self.diff_on, self.request))

    def prev(self):
        return self.take(review.go_prev(*self.nav(), self.diff_on))

    def show_list(self, shown=True):
        self.cursor, listing = review.list_shown(self.studio, self.ids, self.cursor, shown)
        self.view = {**self.view, "cursor": self.cursor, "listing": listing}
        return self.view

    def open(self, sample_id):
        return self.take(review.open_sample(self.studio, self.ids, self.cursor, sample_id, self.diff_on))

    def apply(self, **filters):
        form = {"verdict": "all", "status": "all", "gate": "all", "language": "all", "min_words": None,
                "max_words": None, "min_growth": None, "max_growth": None, "search": "", **filters}
        iteration = filters.pop("iteration", 0)
        self.filters = (iteration, *[form[f] for f in review.FILTER_FIELDS])
        outputs = review.apply_filters(self.studio, self.run, iteration, *[form[f] for f in review.FILTER_FIELDS],
                                       self.ids, self.cursor, self.diff_on, self.request)
        return self.take(outputs, review.APPLY_FIELDS)

    def bulk_ask(self, verdict, reasons=()):
        outputs = review.ask_bulk_accept(self.studio, self.ids) if verdict == "accept" else \
            review.ask_bulk_reject(self.studio, self.ids, reasons)
        self.bulk = outputs[0]
        return dict(zip(review.BULK_FIELDS, outputs))

    def bulk_confirm(self):
        shown = self.store.iteration_by_id(self.cursor["iteration_id"])["idx"]
        filters = getattr(self, "filters", (shown, "all", "all", "all", "all", None, None, None, None, ""))
        outputs = review.confirm_bulk(self.studio, self.run, *filters, self.ids, self.cursor, self.bulk, "",
                                      self.diff_on, self.request)
        return self.take(outputs, review.APPLY_FIELDS)


@pytest.fixture
def reviewed(store):
    """Run 'r' with one iteration ready for review: 8 samples, 4 kept and 4 dropped by the drop-short filter."""
    reviewed_run(store, seeds=(f"Write about {XSS} and the sea.", "Explain how cities grow over the centuries."))
    return store


CRAFTED = [  # language, status, reject_reason, initial words, final words, growth, final text
    ("en", "kept", None, 10, 30, 3.0, f"A CALM sea at 100% dawn. {XSS}"),
    ("en", "dropped_short", "filter/drop_short", 10, 15, 1.5, "Short sea text."),
    ("en", "failed_generation", "generate/no_repeated_ngram", 40, None, None, None),
    ("zh", "kept", None, 20, 80, 4.0, "春天来了。"),
    ("zh", "failed_expansion", "expand/growth", 20, 22, 1.1, "春天。"),
]


@pytest.fixture
def crafted(store):
    """Run 'c': five samples of varied language, status, length and growth (ids 1-5 in CRAFTED's order)."""
    run = store.create_run("c", "m", "m", "transformers", "demo", {},
                           [{"text": "Write about the sea.", "language": "en"},
                            {"text": "写一篇关于春天的文章。", "language": "zh"}])
    iteration = store.latest_iteration(run["id"])
    instructions = {i["language"]: i["id"] for i in store.iteration_instructions(iteration["id"])}
    store.save_samples([
        {"run_id": run["id"], "iteration_id": iteration["id"], "instruction_id": instructions[lang], "slot": slot,
         "language": lang, "status": status, "reject_reason": reason, "initial_response": f"Initial {XSS} words.",
         "initial_words": initial, "initial_attempts": 1, "final_expansion": final, "final_words": words,
         "growth": growth, "rounds": 1 if final else 0}
        for slot, (lang, status, reason, initial, words, growth, final) in enumerate(CRAFTED)])
    return store
