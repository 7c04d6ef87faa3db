"""Progress inside a wave: a local model tells how many of a batch's requests are written before the batch's items
are stored (stages.common.generate_wave), the job row keeps it, and the dashboard's job line shows it."""

from scripted import scripted_backend
from selflengthen.config import preset_config
from selflengthen.jobs.runner import JobReporter
from selflengthen.stages.pipeline import STEPS, run_iteration
from selflengthen.stages.reporter import Reporter
from storage import Store
from ui.jobs import job_line

SEEDS = [{"text": "Write an essay about the sea and its tides.", "language": "en"},
         {"text": "Explain how cities grow over the centuries.", "language": "en"}]


class Recording(Reporter):
    def __init__(self):
        self.events = []

    def stage(self, name, total, done=0):
        self.events.append(("stage", name))

    def advance(self, n=1):
        self.events.append(("advance", n))

    def written(self, done, total):
        self.events.append(("written", done, total))


def test_every_wave_of_every_stage_is_told_row_by_row_before_its_items_are_stored(tmp_path):
    store = Store(tmp_path / "t.db")
    config = preset_config("demo", {"augment": {"n_instructions": 8}, "backend": {"batch_size": 4}})
    run = store.create_run("r", "m", "m", "transformers", "demo", config.to_dict(), SEEDS)
    reporter = Recording()
    run_iteration(store, run, store.latest_iteration(run["id"]), list(STEPS), reporter,
                  factory=lambda role, model, cfg: scripted_backend())
    waves, stages, current = [], {}, None
    for event in reporter.events:
        if event[0] == "stage":
            current = event[1]
        elif event[0] == "written":
            if event[1] == 0:
                waves.append((current, []))
            waves[-1][1].append(event[1:])
            stages.setdefault(current, 0)
    assert {"augment", "generate", "expand"} <= set(stages)
    for stage, told in waves:  # 0, 1, ..., n of n: one count per finished request, in order
        total = told[0][1]
        assert 0 < total <= 4 and told == [(d, total) for d in range(total + 1)], (stage, told)
    generate = [e for e in reporter.events[reporter.events.index(("stage", "generate")):] if e[0] != "stage"]
    assert generate[:6] == [("written", d, 4) for d in range(5)] + [("advance", 4)]  # told, then stored


def test_the_job_row_keeps_the_wave_and_the_job_line_shows_it_until_the_items_are_stored(tmp_path):
    store = Store(tmp_path / "t.db")
    run = store.create_run("r", "m", "m", "transformers", "demo", preset_config("demo").to_dict(), SEEDS)
    job_id = store.start_job("iterate", run_id=run["id"])
    reporter = JobReporter(store, job_id)
    reporter.stage("generate", total=32)
    reporter.written(0, 16)
    reporter.written(5, 16)
    reporter.close()  # (writes are throttled to one a second; close writes what is current)
    line = job_line(store.get_job(job_id))
    assert "stage generate 0/32 (0 %)" in line and "batch 5/16 written" in line
    reporter.advance(16)
    reporter.close()
    line = job_line(store.get_job(job_id))
    assert "stage generate 16/32 (50 %)" in line and "written" not in line
    reporter.written(0, 16)  # the next wave starts from nothing written
    reporter.close()
    assert "batch 0/16 written" in job_line(store.get_job(job_id))
    store.finish_job(job_id, "done")
    assert "written" not in job_line(store.get_job(job_id))  # a finished job has no wave
