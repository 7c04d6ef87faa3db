"""The store: SQLite through sqlite-utils, WAL mode, numbered migrations, named functions.

Open with ``Store(path)``; every multi-row write is one transaction and re-runs upsert.
"""

from storage.base import Connection, StoreError
from storage.checkpoints import CheckpointsMixin
from storage.comparisons import ComparisonsMixin
from storage.decisions import DecisionsMixin
from storage.evaluations import EvaluationsMixin
from storage.exports import ExportsMixin
from storage.final import FinalMixin
from storage.insights import InsightsMixin
from storage.jobs import JobsMixin
from storage.preferences import PreferencesMixin
from storage.review import ReviewMixin
from storage.runs import RunsMixin
from storage.samples import SamplesMixin


class Store(RunsMixin, SamplesMixin, DecisionsMixin, ReviewMixin, JobsMixin, CheckpointsMixin, ComparisonsMixin,
            InsightsMixin, EvaluationsMixin, ExportsMixin, FinalMixin, PreferencesMixin, Connection):
    """All stored state of Self-Lengthen Studio, behind named functions."""


__all__ = ["Store", "StoreError"]
