"""The streaming driver: every sample a small state machine, up to `concurrency` requests in flight at once.

A stage hands `drive` one *task* per sample: a generator that yields the sample's next request (`Request`),
receives its completion, and returns when the sample is done (storing what it made on the way, through the
stage's own callbacks). `drive` keeps the backend busy: whenever a request finishes, its task runs at once
(in this thread, so stores and gates never race) and its next request goes out, or a new sample starts; no
request waits for another sample's. Tasks start in order, so a stage's work is taken up first come, first
served.

Results never depend on completion order: each request carries its own seed, derived from the sample and
the step (never from a counter of arrivals), so a server that answers after any delay gives the same samples.

A request may name its own backend (`Request.backend`): one drive then carries a sample from the generator's
answer straight on to the extender's steps, with no barrier between the two stages (see `TaskQueue`).

Only a streaming backend (a server: `Backend.streaming`) is driven this way; a local model (transformers,
vLLM in process) batches waves of prompts itself, and its stages keep their batch loops.

>>> from selflengthen.backends.fake import ScriptedBackend
>>> class Echo(ScriptedBackend):
...     streaming = True
>>> def task(word):
...     first = yield Request(Prompt.user(word))
...     second = yield Request(Prompt.user(first.text + "!"))
...     return second.text
>>> done = []
>>> drive([task("a"), task("b")], Echo(responder=lambda p: p.messages[0]["content"]), GenerationParams(),
...       done.append, concurrency=2)
>>> sorted(done)
['a!', 'b!']
"""

from __future__ import annotations

import heapq
import itertools
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Generator, Iterable

from selflengthen.backends.base import Backend, Completion, GenerationParams, Prompt

Task = Generator["Request", Completion, object]


@dataclass(frozen=True)
class Request:
    """One request of a sample: its prompt (carrying its own seed) and, where it differs from the stage's, its
    sampling settings."""

    prompt: Prompt
    params: GenerationParams | None = None
    backend: Backend | None = None  # None: the drive's backend


class TaskQueue:
    """Tasks to drive that may grow while the drive runs: a finished task's `on_done` can `put` the sample's next
    task (its expansion, once its answer is stored). The lowest `rank` starts first, then the first put.

    >>> queue = TaskQueue(["a"])
    >>> next(queue), next(queue, None)
    ('a', None)
    >>> queue.put("long", rank=(1, -9)); queue.put("short", rank=(1, -2)); queue.put("b")
    >>> [next(queue) for _ in range(3)]
    ['b', 'long', 'short']
    """

    def __init__(self, tasks: Iterable[Task] = ()):
        self._heap: list = []
        self._count = itertools.count()
        for task in tasks:
            self.put(task)

    def put(self, task: Task, rank: tuple = ()) -> None:
        heapq.heappush(self._heap, (rank, next(self._count), task))

    def __iter__(self) -> "TaskQueue":
        return self

    def __next__(self) -> Task:
        if not self._heap:
            raise StopIteration  # for now: a later put() gives the drive more
        return heapq.heappop(self._heap)[2]


def distinct_servers(backends) -> list[Backend]:
    """The backends that send to servers none of the earlier ones sends to (two served names of one server
    share its slots: they count once)."""
    return [b for i, b in enumerate(backends) if not any(b.shares_endpoints(a) for a in backends[:i])]


def streams(backend: Backend, config) -> bool:
    """Whether a stage drives `backend` with the streaming scheduler (`backend.driver` 'stream' on a server)."""
    return config.backend.driver == "stream" and getattr(backend, "streaming", False)


def drive(tasks: Iterable[Task], backend: Backend, params: GenerationParams, on_done: Callable[[object], None],
          *, concurrency: int | None = None, check: Callable[[], None] | None = None) -> None:
    """Run every task to its end with at most `concurrency` requests in flight (default: the backend's).

    on_done(result) gets each task's return value as it finishes; check() runs between completions (a job's
    cancel check: what it raises stops the drive, finished work stays stored, requests in flight are dropped).
    """
    limit = max(1, concurrency or backend.concurrency)
    pending = iter(tasks)
    running: dict[Future, Task] = {}
    with ThreadPoolExecutor(max_workers=limit) as pool:
        try:
            _fill(pending, running, pool, backend, params, limit, on_done)
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    _advance(running.pop(future), future.result(), running, pool, backend, params, on_done)
                if check:
                    check()
                _fill(pending, running, pool, backend, params, limit, on_done)
        except BaseException:
            for future in running:
                future.cancel()
            raise


def _fill(pending, running: dict, pool, backend, params, limit: int, on_done) -> None:
    """Start new tasks until `limit` requests are in flight or no task is left."""
    while len(running) < limit:
        task = next(pending, None)
        if task is None:
            return
        _advance(task, None, running, pool, backend, params, on_done)


def _advance(task: Task, completion: Completion | None, running: dict, pool, backend, params, on_done) -> None:
    """Give the task its completion (None: start it); submit its next request, or report its result."""
    try:
        request = next(task) if completion is None else task.send(completion)
    except StopIteration as end:
        on_done(end.value)
        return
    running[pool.submit((request.backend or backend).answer, request.prompt, request.params or params)] = task


class Stored:
    """What the tasks finish, stored in small transactions: every `size` results or `every` seconds, and at the
    end (also when the drive stops on a cancel or an error: finished work is kept). A kill loses at most the
    unsaved few, which a re-run makes again, the same (their seeds do not depend on timing).

    save(items) writes a list of results; finished(item) says how many of the stage's items one result
    completes (the reporter advances by it); error(item) names a request the backend gave up on, if any.
    """

    def __init__(self, save: Callable[[list], None], reporter, *, finished: Callable[[object], int] = lambda _: 1,
                 error: Callable[[object], str | None] = lambda _: None, size: int = 32, every: float = 1.0):
        self.save, self.reporter, self.finished, self.error = save, reporter, finished, error
        self.size, self.every, self.items, self.errors = size, every, [], []
        self._last = time.monotonic()

    def add(self, item, now: bool = False) -> None:
        """Keep `item` for the next transaction; `now` stores it (and what waits with it) at once."""
        self.items.append(item)
        self.errors.append(self.error(item))
        if now or len(self.items) >= self.size or time.monotonic() - self._last >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.items:
            items, self.items = self.items, []
            self.save(items)
            self.reporter.advance(sum(map(self.finished, items)))
        self._last = time.monotonic()

    def tick(self, *backends: Backend) -> None:
        """Between completions: the endpoints' figures to the job (each server once, however many backends
        share it), then the cancel check."""
        self.reporter.endpoints([row for b in distinct_servers(backends) for row in b.stats()])
        self.reporter.check_cancel()

    def __enter__(self) -> "Stored":
        return self

    def __exit__(self, *exc) -> None:
        self.flush()
