"""Several servers behind the openai backend: the pool's rules on their own (least busy, per-server limits, take
out and put back, giving up), the config that lists the servers, and two real local servers, one of which
crashes mid-run and comes back."""

from __future__ import annotations

import threading
import time

import pytest

from selflengthen.backends import GenerationParams, Prompt, create_backend
from selflengthen.backends.endpoints import EndpointPool
from selflengthen.config import BackendConfig, RunConfig
from selflengthen.errors import BackendError, ConfigError
from servers import StubOpenAIServer

PARAMS = GenerationParams(max_new_tokens=8)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_pool(limits=(2, 2), delay=lambda failures: 1.0, trials=3):
    clock = Clock()
    pool = EndpointPool([(f"http://{name}/v1", n) for name, n in zip("ab", limits)], delay, trials, clock=clock)
    return pool, clock, pool.endpoints


def hosts(leases) -> list[str]:
    """'a' or 'b': the endpoint each lease holds."""
    return [lease.endpoint.url.removeprefix("http://")[0] for lease in leases]


# ---- the pool ----

def test_each_request_goes_to_the_endpoint_with_the_fewest_in_flight():
    pool, _, (a, b) = make_pool(limits=(3, 3))
    first = [pool.acquire() for _ in range(3)]
    assert hosts(first) == ["a", "b", "a"]  # ties go to the one routed least so far
    pool.done(first[1])  # b now has none in flight, a two
    assert hosts([pool.acquire(), pool.acquire()]) == ["b", "b"]
    assert [s["in_flight"] for s in pool.stats()] == [2, 2] and pool.stats()[1]["done"] == 1


def test_one_at_a_time_requests_alternate():
    pool, _, _ = make_pool()
    leases = []
    for _ in range(4):
        leases.append(pool.acquire())
        pool.done(leases[-1])
    assert hosts(leases) == ["a", "b", "a", "b"]


def test_a_full_endpoint_gets_no_more_and_a_request_waits_for_a_free_slot():
    pool, _, (a, b) = make_pool(limits=(1, 2))
    held = [pool.acquire() for _ in range(3)]
    assert hosts(held) == ["a", "b", "b"]
    got = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire()))
    waiter.start()
    time.sleep(0.05)
    assert got == []  # every slot taken: it waits
    pool.done(held[0])
    waiter.join(2)
    assert hosts(got) == ["a"] and pool.concurrency == 3


def test_a_failed_endpoint_is_taken_out_tried_again_after_its_backoff_and_put_back_when_it_answers():
    delays = []
    pool, clock, (a, b) = make_pool(delay=lambda failures: delays.append(failures) or 1.0)
    pool.failed(pool.acquire(), "http://a/v1/chat/completions failed after 3 attempt(s): ConnectError: refused")
    assert not a.up and pool.concurrency == 2 and delays == [1]
    assert hosts([pool.acquire(), pool.acquire()]) == ["b", "b"]  # a's backoff has not passed
    clock.now += 1.0
    trial = pool.acquire()
    assert trial.endpoint is a and trial.trial
    pool.failed(trial, "http://a/v1/chat/completions failed after 1 attempt(s): ConnectError: refused")
    assert not a.up and delays == [1, 2]  # a failed trial waits longer
    clock.now += 1.0
    trial = pool.acquire()
    assert trial.endpoint is a and trial.trial
    pool.done(trial)
    assert a.up and a.failures == 0
    assert pool.stats()[0] == {"url": "http://a/v1", "in_flight": 0, "done": 1, "failed": 2, "up": True}


def test_one_trial_at_a_time_and_an_answered_error_puts_the_endpoint_back():
    pool, clock, (a, b) = make_pool(limits=(2, 4))
    pool.failed(pool.acquire(), "down")
    clock.now += 5
    trial = pool.acquire()
    assert trial.trial and hosts([pool.acquire(), pool.acquire()]) == ["b", "b"]  # no second trial of a
    pool.failed(trial, "HTTP 400: prompt too long", answered=True)  # it answered: it is up
    assert a.up and pool.concurrency == 6


def test_a_request_on_an_endpoint_taken_out_by_another_leaves_when_an_untried_one_is_up():
    pool, _, (a, b) = make_pool()
    mine, other = pool.acquire(), pool.acquire(exclude={pool.endpoints[1]})
    assert mine.endpoint is other.endpoint is a
    assert not pool.should_leave(a, exclude=set())
    pool.failed(other, "down")
    assert pool.should_leave(a, exclude=set()) and not pool.should_leave(a, exclude={b})


def test_a_request_gives_up_when_it_has_tried_every_endpoint_but_the_pool_is_not_dead():
    pool, _, (a, b) = make_pool()
    for _ in range(2):
        pool.failed(pool.acquire(exclude={b} if a.up else {a}), "poison prompt")
    assert pool.acquire(exclude={a, b}) is None and not pool.dead()  # nobody has probed them yet


def test_every_endpoint_down_through_as_many_trials_as_a_request_retries_is_dead_until_one_answers():
    pool, clock, (a, b) = make_pool(trials=2)
    pool.failed(pool.acquire(), "a refused")
    pool.failed(pool.acquire(), "b refused")  # both down at 100 s, trials due a second later
    for trial in (1, 2):
        clock.now += 1.0
        pool.failed(pool.acquire(), "a still refused")
        pool.failed(pool.acquire(), "b still refused")
        assert pool.dead() == (trial == 2)  # given up on only after their second failed trial
    assert pool.acquire() is None  # no trial due: the request gives up, and the backend raises
    assert pool.down_message() == ("all 2 servers are down (no answer for 2.0 s, 2 failed trial(s) since taken out; "
                                   "the last: a still refused; b still refused)")
    clock.now += 1.0
    trial = pool.acquire()  # trials still go out: a server that comes back is used again
    pool.done(trial)
    assert not pool.dead() and trial.endpoint.up


def test_one_request_failing_trial_after_trial_never_makes_the_pool_dead():
    pool, clock, (a,) = make_pool(limits=(1,), trials=2)
    poison = object()
    pool.failed(pool.acquire(owner=poison), "HTTP 500: cannot answer this prompt")
    for _ in range(5):
        clock.now += 1.0
        trial = pool.acquire(owner=poison)
        assert trial.trial and trial.owner is poison
        pool.failed(trial, "HTTP 500: cannot answer this prompt")
        assert not pool.dead()  # the same prompt failing again says nothing more about the server
    clock.now += 1.0
    pool.failed(pool.acquire(owner="another"), "HTTP 500: the model worker crashed")
    assert pool.dead() and a.trialists == {poison, "another"}  # two requests' trials failed: it is down


def test_a_request_whose_trial_failed_leaves_the_next_trial_to_one_that_has_not():
    pool, clock, (a,) = make_pool(limits=(1,))
    pool.failed(pool.acquire(owner="taker"), "HTTP 500")
    clock.now += 1.0
    pool.failed(pool.acquire(owner="poison"), "HTTP 500")
    clock.now += 1.0
    got = {}
    fresh = threading.Thread(target=lambda: got.setdefault("fresh", pool.acquire(owner="fresh")))
    with pool.cond:  # "fresh" starts waiting (its trial is not due yet) before "poison" asks again
        a.retry_at = clock.now + 60
        fresh.start()
        pool.cond.wait_for(lambda: "fresh" in pool.waiting, timeout=5)
        a.retry_at = clock.now
    veteran = threading.Thread(target=lambda: got.setdefault("poison", pool.acquire(owner="poison")))
    veteran.start()
    fresh.join(5)
    assert got["fresh"].trial and got["fresh"].owner == "fresh"
    assert "poison" not in got  # it waits: the trial is out
    pool.done(got["fresh"])
    veteran.join(5)
    assert a.up and not got["poison"].trial  # the server answered: the poison prompt goes out as usual


# ---- the config ----

@pytest.mark.parametrize("backend, message", [
    ({"base_url": []}, "backend.base_url must be a URL or a non-empty list of distinct URLs (got [])"),
    ({"base_url": ["http://a/v1", 5]}, "backend.base_url must be a URL or a non-empty list"),
    ({"base_url": ["http://a/v1", "http://a/v1"]}, "backend.base_url must be a URL or a non-empty list of distinct"),
    ({"concurrency": 0}, "backend.concurrency must be >= 1, or a list of one per base_url (got 0)"),
    ({"concurrency": "8"}, "backend.concurrency must be int or list"),
    ({"concurrency": [2, 0]}, "backend.concurrency must be >= 1, or a list of one per base_url (got [2, 0])"),
    ({"concurrency": [True]}, "backend.concurrency must be >= 1, or a list of one per base_url (got [True])"),
    ({"concurrency": []}, "backend.concurrency must be >= 1, or a list of one per base_url (got [])"),
    ({"base_url": ["http://a/v1", "http://b/v1"], "concurrency": [4]},
     "backend.concurrency must be >= 1, or a list of one per base_url (got [4])"),
    ({"base_url": [{"url": "http://a/v1"}]}, "backend.base_url must be a URL or a non-empty list"),
])
def test_bad_server_lists_name_the_field_and_value(backend, message):
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict({"backend": backend})
    assert str(info.value).startswith(message)


def test_a_list_of_servers_round_trips_through_json():
    backend = {"name": "openai", "base_url": ["http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1"],
               "concurrency": [16, 8]}
    config = RunConfig.from_dict({"backend": backend})
    assert RunConfig.from_json(config.to_json()).backend == config.backend == BackendConfig(**backend)


# ---- two real local servers ----

@pytest.fixture
def servers():
    pair = [StubOpenAIServer("a", delay=0.02), StubOpenAIServer("b", delay=0.02)]
    yield pair
    for server in pair:
        server.stop()


def backend_for(servers, concurrency=2, **config):
    config = {"max_retries": 2, "retry_backoff": 0.01, "timeout": 5, **config}
    return create_backend("openai", "m", BackendConfig(name="openai", base_url=[s.url for s in servers],
                                                       concurrency=concurrency, **config))


def prompts(n: int) -> list[Prompt]:
    return [Prompt.user(f"prompt {i}") for i in range(n)]


def wait_for(condition, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_requests_spread_over_both_servers(servers):
    backend = backend_for(servers)
    assert backend.streaming and backend.concurrency == 4
    out = backend.generate(prompts(12), PARAMS)
    assert [c.text.split(": ", 1)[1] for c in out] == [f"prompt {i}" for i in range(12)]
    stats = backend.stats()
    assert [s["url"] for s in stats] == [s.url for s in servers]
    assert [s["done"] for s in stats] == [s.answered for s in servers] and all(s.answered >= 3 for s in servers)
    assert all(s["up"] and s["in_flight"] == s["failed"] == 0 for s in stats)
    assert backend.describe()["base_url"] == [s.url for s in servers]


def test_each_server_gets_at_most_its_own_concurrency(servers):
    backend = backend_for(servers, concurrency=[1, 3])
    assert backend.concurrency == 4
    assert not any(c.error for c in backend.generate(prompts(16), PARAMS))
    assert [s.max_active for s in servers] == [1, 3]
    assert servers[1].answered > servers[0].answered


def test_answer_from_many_threads_spreads_by_requests_in_flight(servers):
    backend = backend_for(servers, concurrency=3)
    threads = [threading.Thread(target=backend.answer, args=(p, PARAMS)) for p in prompts(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sum(s["done"] for s in backend.stats()) == 12 and max(s.max_active for s in servers) <= 3


def test_a_server_that_crashes_mid_run_loses_nothing_and_is_used_again_once_back(servers):
    a, b = servers
    backend = backend_for(servers)
    result = {}
    run = threading.Thread(target=lambda: result.update(out=backend.generate(prompts(40), PARAMS)))
    run.start()
    wait_for(lambda: a.answered >= 4 and a.active > 0)
    a.stop()  # requests in flight on a are dropped without a reply; new connections refused
    run.join(10)
    out = result["out"]
    assert [c.error for c in out] == [None] * 40
    assert [c.text.split(": ", 1)[1] for c in out] == [f"prompt {i}" for i in range(40)]
    assert a.received > a.answered  # some were cut off on a ...
    assert a.answered + b.answered == 40  # ... and answered once, by b
    stats = backend.stats()
    assert [s["up"] for s in stats] == [False, True] and sum(s["done"] for s in stats) == 40

    a.start()
    answered_before = a.answered
    wait_for(lambda: backend.answer(Prompt.user("again"), PARAMS) and a.answered > answered_before)
    assert backend.stats()[0]["up"] and backend.concurrency == 4
    backend.generate(prompts(8), PARAMS)
    assert a.answered >= answered_before + 3  # back in the rotation, not only its trial


def test_every_server_down_is_a_backend_error_naming_them(servers):
    for server in servers:
        server.stop()
    backend = backend_for(servers, max_retries=1)
    start = time.monotonic()
    with pytest.raises(BackendError) as info:
        backend.generate(prompts(6), PARAMS)
    assert all(s.url in str(info.value) for s in servers) and "ConnectError" in str(info.value)
    with pytest.raises(BackendError, match=r"^all 2 servers are down \(no answer for [\d.]+ s, \d+ failed trial\(s\) "
                                           r"since taken out; the last: http://127.*ConnectError.*; http://127"):
        for _ in range(20):  # no endless stream of failed requests: the backend gives up
            backend.answer(Prompt.user("still there?"), PARAMS)
    assert time.monotonic() - start < 3


def test_a_prompt_no_server_can_answer_fails_alone_and_both_servers_come_back(servers):
    for server in servers:
        server.refuse = lambda message: message == "prompt 0"
    backend = backend_for(servers, max_retries=1)
    out = backend.generate(prompts(6), PARAMS)
    assert [c.error is None for c in out] == [False] + [True] * 5
    assert all(f"{s.url}/chat/completions failed after 2 attempt(s): HTTP 500: cannot answer" in out[0].error
               for s in servers)
    wait_for(lambda: backend.answer(Prompt.user("next"), PARAMS) and all(s["up"] for s in backend.stats()))


def test_a_single_server_keeps_its_behaviour_a_poison_prompt_fails_alone():
    server = StubOpenAIServer("only")
    try:
        backend = create_backend("openai", "m", BackendConfig(name="openai", base_url=server.url, max_retries=0,
                                                              retry_backoff=0.01))
        lease = backend.pool.acquire()
        backend.pool.failed(lease, f"{server.url}/chat/completions failed after 1 attempt(s): HTTP 500: poison")
        assert not backend.stats()[0]["up"]
        out = backend.answer(Prompt.user("next"), PARAMS)  # waits for the backoff, probes, and is answered
        assert out.text == "only: next" and backend.stats()[0]["up"]
    finally:
        server.stop()


def test_a_poison_prompt_that_meets_a_down_server_fails_alone_and_the_backend_goes_on():
    server = StubOpenAIServer("only")
    server.refuse = lambda message: message == "poison"
    try:
        backend = create_backend("openai", "m", BackendConfig(name="openai", base_url=server.url, max_retries=2,
                                                              retry_backoff=0.01))
        backend.pool.failed(backend.pool.acquire(), "taken out by another request")
        out = backend.answer(Prompt.user("poison"), PARAMS)  # every attempt is a trial of a down server
        assert out.error == f"{server.url}/chat/completions failed after 3 attempt(s): HTTP 500: cannot answer this"
        assert not backend.pool.dead() and backend.answer(Prompt.user("next"), PARAMS).text == "only: next"
    finally:
        server.stop()
