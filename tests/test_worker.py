"""The dashboard's one job worker: real subprocesses running real CLI commands against a real store."""

import sys

import pytest

from selflengthen.errors import InputError
from selflengthen.jobs.commands import cli_command, shown
from storage import Store
from ui.worker import Worker


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_chain_runs_in_order_and_keeps_its_output(store):
    worker = Worker(store)
    worker.launch("two steps", [python("print('first')"), python("print('second')")])
    assert worker.wait(30)
    state = worker.state()
    assert state["returncode"] == 0 and state["error"] == "" and not state["running"]
    assert state["output"].splitlines()[1::2] == ["first", "second"]
    assert state["commands"][0].startswith("python -c")


@pytest.mark.slow
def test_a_failing_step_stops_the_chain_with_the_cli_error_line(store, tmp_path):
    worker = Worker(store)
    marker = tmp_path / "ran"
    worker.launch("status then more", [cli_command("status", "--db", str(tmp_path / "studio.db"), "--name", "nope"),
                                       python(f"open({str(marker)!r}, 'w')")])
    assert worker.wait(60)
    state = worker.state()
    assert state["returncode"] == 1 and state["step"] == 0
    assert state["error"].startswith("no run named 'nope'")
    assert not marker.exists()


def test_only_one_chain_at_a_time_and_none_while_a_job_lives(store):
    worker = Worker(store)
    worker.launch("sleeper", [python("import time; time.sleep(30)")])
    with pytest.raises(InputError, match="cannot start 'other': 'sleeper' is starting \\('sleeper'\\): .*time.sleep"):
        worker.launch("other", [python("pass")])
    assert worker.cancel() == []  # no job row to ask: the command itself is stopped
    assert worker.wait(30) and worker.state()["returncode"] != 0
    run = store.create_run("r", "m", "m", "transformers", "demo", {}, [])
    job = store.start_job("iterate", run_id=run["id"])  # held by this live process, as a CLI job would be
    with pytest.raises(InputError, match=f"job {job} \\(iterate\\) of run 'r' is running \\(pid \\d+\\): "):
        worker.launch("other", [python("pass")])


@pytest.mark.slow
def test_cancel_asks_live_jobs_to_stop_and_skips_the_next_step(store, tmp_path):
    run = store.create_run("r", "m", "m", "transformers", "demo", {}, [])
    worker = Worker(store)
    marker = tmp_path / "ran"
    worker.launch("wait then more", [python("import time; time.sleep(1.5)"), python(f"open({str(marker)!r}, 'w')")])
    job = store.create_job("iterate", run_id=run["id"])
    assert worker.cancel() == [job]
    assert store.cancel_requested(job)
    assert worker.wait(30)
    assert worker.state()["error"] == "cancelled before this step started" and not marker.exists()


def test_shown_commands_are_copyable():
    assert shown(cli_command("init", "--name", "a b")) == "python -m selflengthen init --name 'a b'"


@pytest.mark.slow
def test_commands_run_where_the_app_runs_so_relative_paths_mean_what_the_user_meant(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    store = Store(elsewhere / "studio.db")
    store.create_run("r", "m", "m", "transformers", "demo", {}, [{"text": "Write a story.", "language": "en"}])
    monkeypatch.chdir(elsewhere)  # not the project folder: `-m selflengthen` must still import
    worker = Worker(store)
    worker.launch("status", [cli_command("status", "--db", "studio.db", "--name", "r")])
    assert worker.wait(60)
    assert worker.state()["returncode"] == 0 and "run r (demo" in worker.state()["output"]
