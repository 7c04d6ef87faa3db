"""Two curators on one iteration at once, through the dashboard's API (a real in-process Gradio server with
logins, two gradio_client sessions in threads): every decision is a row, and a decision that contradicts
one made after the curator opened the sample is reported to them, not recorded over it."""

from __future__ import annotations

import re
import threading

import pytest
from gradio_client import Client

import app
from scripted import reviewed_run
from storage import Store

pytestmark = pytest.mark.slow  # real servers, subprocesses or models

USERS = [("alice", "pw-a"), ("bob", "pw-b")]
CONFLICT = re.compile(r"sample (\d+) was (accepted|rejected) by (\w+) at \d\d:\d\d after you opened it — "
                      r"press again to override")
RECORDED = re.compile(r"(accepted|rejected) sample (\d+)(?: \(too_short\))?")


@pytest.fixture
def clients(tmp_path):
    """(store, alice's client, bob's client), both logged in and with the Review tab loaded on run 'r'."""
    store = Store(tmp_path / "studio.db")
    reviewed_run(store)
    demo = app.build_app(store, auth=True)
    demo.launch(prevent_thread_lock=True, auth=USERS, **app.launch_options())
    try:
        pair = [Client(demo.local_url, auth=user, verbose=False) for user in USERS]
        for client in pair:
            client.predict("r", False, api_name="/review_load")
            with store.transaction() as db:  # as if the first had opened it after the second: both on sample 1
                db.execute("DELETE FROM holds")
        yield store, *pair
    finally:
        demo.close()


def decide(client: Client, verdict: str) -> str:
    """Press Accept or Reject on the client's open sample; the message the Review tab shows back."""
    if verdict == "accept":
        out = client.predict("r", "", False, api_name="/review_accept")
    else:
        out = client.predict("r", ["too_short"], "", False, api_name="/review_reject")
    return out[-1]


def at_once(*calls) -> list:
    """Run the calls in threads released together; their results in order."""
    results, start = [None] * len(calls), threading.Barrier(len(calls))

    def run(i, call):
        start.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def rows_by_user(store, iteration_id: int) -> dict[str, list[tuple[int, str]]]:
    rows = store.query("SELECT sample_id, verdict, user FROM decisions WHERE iteration_id = ? ORDER BY id",
                       [iteration_id])
    out: dict[str, list[tuple[int, str]]] = {"alice": [], "bob": []}
    for row in rows:
        out[row["user"]].append((row["sample_id"], row["verdict"]))
    return out


def test_two_clients_deciding_the_same_sample_at_once_record_one_and_report_the_other(clients):
    store, alice, bob = clients
    messages = dict(zip(("alice", "bob"), at_once(lambda: decide(alice, "accept"), lambda: decide(bob, "reject"))))
    recorded = {user: RECORDED.fullmatch(m.split(" · ")[0]) for user, m in messages.items()}
    conflicts = {user: CONFLICT.fullmatch(m) for user, m in messages.items()}
    [winner] = [user for user, match in recorded.items() if match]
    [loser] = [user for user, match in conflicts.items() if match]
    assert winner != loser and conflicts[loser].group(1) == "1" and conflicts[loser].group(3) == winner
    [row] = store.decision_history(1)  # the contradicting decision was held back, not recorded over the first
    assert row["user"] == winner and row["verdict"] == {"alice": "accept", "bob": "reject"}[winner]

    # The loser, now told, presses again: recorded knowingly, after the winner's.
    again = decide({"alice": alice, "bob": bob}[loser], {"alice": "accept", "bob": "reject"}[loser])
    assert again.startswith({"alice": "accepted sample 1", "bob": "rejected sample 1 (too_short)"}[loser])
    assert [d["user"] for d in store.decision_history(1)] == [winner, loser]


def test_a_burst_of_decisions_from_two_clients_loses_none_and_overwrites_none_silently(clients):
    store, alice, bob = clients
    shown: dict[str, list[str]] = {"alice": [], "bob": []}
    for _ in range(6):
        a, b = at_once(lambda: decide(alice, "accept"), lambda: decide(bob, "reject"))
        shown["alice"].append(a)
        shown["bob"].append(b)
    rows = rows_by_user(store, 1)
    for user, verdict in (("alice", "accept"), ("bob", "reject")):
        recorded = [RECORDED.match(m) for m in shown[user]]
        # Every decision the tab confirmed is a row of its curator, and there is no row it did not confirm.
        assert [(int(m.group(2)), verdict) for m in recorded if m] == rows[user]
        assert all(m or CONFLICT.fullmatch(message) for m, message in zip(recorded, shown[user])), shown[user]
    # A sample with both verdicts: the later one was pressed only after its curator was shown the conflict.
    told = {(user, int(CONFLICT.fullmatch(m).group(1))) for user in shown for m in shown[user] if CONFLICT.fullmatch(m)}
    both = {sample for sample, _ in rows["alice"]} & {sample for sample, _ in rows["bob"]}
    assert told, "two curators who opened the same sample at once should have met on it"
    assert both <= {sample for _, sample in told}  # after that, each was handed samples the other did not hold
    for sample in range(1, 9):
        history = store.decision_history(sample)
        for earlier, later in zip(history, history[1:]):
            if earlier["user"] != later["user"] and earlier["verdict"] != later["verdict"]:
                assert (later["user"], sample) in told
