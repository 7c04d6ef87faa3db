"""Several servers of one model behind one backend: each request goes to the least busy server, a server that
stops answering is taken out, and it is put back once it answers again. Pure threading, no HTTP: the openai
backend asks `acquire` for a server before each request and reports how it went (`done` / `failed`).

The rules, in the order `acquire` applies them:

- A server that is down and whose backoff has passed gets the next request as a *trial* (one at a time per
  server); a trial that answers puts it back, a failed one doubles its backoff (`delay(failures)`). A request
  whose trial failed leaves the next trial to a waiting request that has not failed one (a prompt the server
  cannot answer must not pass for an outage by probing it again and again).
- Otherwise the request goes to the server, among those up with a free slot, with the fewest requests in
  flight (ties: the fewest routed so far, so one-at-a-time requests alternate). No free slot: wait.
- A request that failed on a server after its retries takes that server out (the backend then tries another);
  the requests still retrying on it leave at once for a server they have not tried, if one is up.
- A request gives up when it has tried every server (a prompt no server can answer is a failed request, not
  an outage), or when every server it may still try is down and has failed the trials of `trials` different
  requests since it was taken out: as many attempts, spaced by the same backoff, as a request retries on one
  server, so a server counts as gone only once it stayed down for longer than a request's retries last. When
  that is every server, the pool is *dead*: the backend raises and the job fails, rather than failing request
  after request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

WAKE_EVERY = 1.0  # seconds: a waiting request looks again at least this often (a safety net; releases notify)


@dataclass(eq=False)
class Endpoint:
    """One server and its figures; `failures` counts its take-out and every failed trial since."""

    url: str
    limit: int
    in_flight: int = 0
    routed: int = 0
    done: int = 0
    failed: int = 0
    up: bool = True
    failures: int = 0
    down_since: float = 0.0
    retry_at: float = 0.0
    probing: bool = False
    error: str = ""
    trialists: set = field(default_factory=set)  # the requests whose trials failed since it was taken out

    def stats(self) -> dict:
        return {"url": self.url, "in_flight": self.in_flight, "done": self.done, "failed": self.failed,
                "up": self.up}


@dataclass(frozen=True)
class Lease:
    """A request's hold on one endpoint; `trial`: the request probes a down endpoint (one attempt); `owner`: the
    request, as `acquire` was told it (a call told none is a request of its own)."""

    endpoint: Endpoint
    trial: bool = False
    owner: object = None


def endpoint_limits(base_url: str | list[str], concurrency: int | list[int]) -> list[tuple[str, int]]:
    """(url, requests in flight) of each server: one concurrency for all, or one each.

    >>> endpoint_limits(["http://a/v1/", "http://b/v1"], 4)
    [('http://a/v1', 4), ('http://b/v1', 4)]
    >>> endpoint_limits("http://a/v1", [2])
    [('http://a/v1', 2)]
    """
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    limits = concurrency if isinstance(concurrency, list) else [concurrency] * len(urls)
    return [(url.rstrip("/"), limit) for url, limit in zip(urls, limits)]


class EndpointPool:
    """Routes requests over endpoints; thread-safe. `delay(failures)`: seconds from a failure to the next trial;
    `trials`: failed trials (at least 1) after which a down endpoint is given up on."""

    def __init__(self, endpoints: list[tuple[str, int]], delay: Callable[[int], float], trials: int,
                 clock: Callable[[], float] = time.monotonic):
        self.endpoints = [Endpoint(url, limit) for url, limit in endpoints]
        self.delay, self.trials, self.clock = delay, max(1, trials), clock
        self.cond = threading.Condition()
        self.waiting: dict[object, Collection[Endpoint]] = {}  # requests in `acquire`: what each excludes

    @property
    def capacity(self) -> int:
        """Requests in flight when every endpoint is up."""
        return sum(e.limit for e in self.endpoints)

    @property
    def concurrency(self) -> int:
        """Requests in flight on the endpoints up now (at least 1: a request must go out to probe them)."""
        with self.cond:
            return max(1, sum(e.limit for e in self.endpoints if e.up))

    def stats(self) -> list[dict]:
        with self.cond:
            return [e.stats() for e in self.endpoints]

    def acquire(self, exclude: Collection[Endpoint] = (), owner: object = None) -> Lease | None:
        """An endpoint for `owner`'s request, not one of `exclude` (those it already failed on); waits while all
        are busy or down; None when the request should give up (see the module docstring)."""
        owner = object() if owner is None else owner
        with self.cond:
            self.waiting[owner] = exclude
            try:
                while True:
                    candidates = [e for e in self.endpoints if e not in exclude]
                    if not candidates:
                        return None
                    now = self.clock()
                    lease = self._trial(candidates, now, owner)  # first: a pool given up on comes back if it answers
                    if lease is None and self._hopeless(candidates):
                        return None
                    lease = lease or self._least_busy(candidates, owner)
                    if lease:
                        lease.endpoint.in_flight += 1
                        lease.endpoint.routed += 1
                        return lease
                    self.cond.wait(self._wait(candidates, now))
            finally:
                del self.waiting[owner]

    def done(self, lease: Lease) -> None:
        """The endpoint answered the request."""
        self._release(lease, None, answered=True)

    def failed(self, lease: Lease, error: str, answered: bool = False) -> None:
        """The request failed on this endpoint: it did not answer (after the request's retries, or a trial's one
        attempt), or it `answered` with an error (HTTP 4xx: up, but the request is wrong)."""
        self._release(lease, error, answered)

    def _release(self, lease: Lease, error: str | None, answered: bool) -> None:
        e, now = lease.endpoint, self.clock()
        with self.cond:
            e.in_flight -= 1
            if error is None:
                e.done += 1
            else:
                e.failed, e.error = e.failed + 1, error
            if lease.trial:
                e.probing = False
            if answered and lease.trial:  # a down endpoint answered: back in service
                e.up, e.failures = True, 0
                e.trialists.clear()
            elif not answered and (e.up or lease.trial):  # taken out, or a failed trial: wait longer
                if e.up:
                    e.up, e.down_since = False, now
                    e.trialists.clear()
                else:
                    e.trialists.add(lease.owner)
                e.failures += 1
                e.retry_at = now + self.delay(e.failures)
            self.cond.notify_all()

    def should_leave(self, endpoint: Endpoint, exclude: Collection[Endpoint]) -> bool:
        """Whether a request still retrying on `endpoint` had better go elsewhere now: another request took the
        endpoint out, and an endpoint the request has not tried is up."""
        with self.cond:
            return not endpoint.up and any(e.up for e in self.endpoints if e is not endpoint and e not in exclude)

    def dead(self) -> bool:
        """Every endpoint down and given up on: nothing answers."""
        with self.cond:
            return self._hopeless(self.endpoints)

    def down_message(self) -> str:
        """Why nothing answers, e.g. 'the server is down (no answer for 31.2 s, 5 failed trial(s) since taken out;
        the last: http://127.0.0.1:8000/v1/chat/completions failed after 1 attempt(s): ConnectError: ...)'."""
        with self.cond:
            span = self.clock() - max(e.down_since for e in self.endpoints)
            trials = min(e.failures for e in self.endpoints) - 1
            who = "the server is" if len(self.endpoints) == 1 else f"all {len(self.endpoints)} servers are"
            return (f"{who} down (no answer for {span:.1f} s, {trials} failed trial(s) since taken out; the last: "
                    + "; ".join(e.error for e in self.endpoints) + ")")

    def _hopeless(self, candidates: list[Endpoint]) -> bool:
        return all(not e.up and not e.probing and len(e.trialists) >= self.trials for e in candidates)

    def _trial(self, candidates: list[Endpoint], now: float, owner: object) -> Lease | None:
        due = [e for e in candidates if not e.up and not e.probing and e.retry_at <= now
               and not (owner in e.trialists and self._fresh_waiter(e, owner))]
        if not due:
            return None
        endpoint = min(due, key=lambda e: e.retry_at)
        endpoint.probing = True
        return Lease(endpoint, trial=True, owner=owner)

    def _fresh_waiter(self, endpoint: Endpoint, owner: object) -> bool:
        """Whether another request waits that may probe `endpoint` and has not failed a trial of it: the next
        trial is its turn, so that a prompt the server cannot answer does not probe it again and again."""
        return any(other is not owner and other not in endpoint.trialists and endpoint not in exclude
                   for other, exclude in self.waiting.items())

    def _least_busy(self, candidates: list[Endpoint], owner: object) -> Lease | None:
        free = [e for e in candidates if e.up and e.in_flight < e.limit]
        return Lease(min(free, key=lambda e: (e.in_flight, e.routed)), owner=owner) if free else None

    def _wait(self, candidates: list[Endpoint], now: float) -> float:
        """Seconds until something may change without a release: the next trial is due."""
        moments = [e.retry_at for e in candidates if not e.up and not e.probing]
        return min([WAKE_EVERY] + [max(0.001, t - now) for t in moments])
