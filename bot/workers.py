"""Worker processes for the CPU half of a poll that come back when one of them dies.

A ``ProcessPoolExecutor`` whose worker is killed (the kernel's OOM killer, a crash in C
code, an operator's ``kill``) is broken for good: every later job fails at once, and the
bot would stop storing stories until someone restarts it. ``Workers`` replaces a broken
pool with a fresh one and runs each job that failed with it once more there; a job that
breaks the fresh pool too (a feed that kills its parser) fails with ``BrokenExecutor``,
for its feed alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Job(Generic[T]):
    """A function and its arguments, picklable when they are (a lambda would not be)."""

    fn: Callable[..., T]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class Workers(Executor):
    """A process pool that replaces itself when broken; jobs caught in the break run again."""

    def __init__(self, processes: int) -> None:
        self._processes = processes
        self._lock = threading.Lock()
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self._processes, mp_context=get_context("spawn"))

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        outcome: Future[T] = Future()
        self._attempt(outcome, Job(fn, args, kwargs), retries=1)
        return outcome

    def _attempt(self, outcome: Future[T], call: Job[T], retries: int) -> None:
        pool = self._pool
        try:
            job = pool.submit(call.fn, *call.args, **call.kwargs)
        except BrokenExecutor:
            job = Future()
            job.set_exception(BrokenExecutor("the worker processes had died"))

        def finished(job: Future[T]) -> None:
            error = job.exception()
            if isinstance(error, BrokenExecutor) and retries > 0:
                self._replace(pool)
                self._attempt(outcome, call, retries - 1)
            elif error is not None:
                outcome.set_exception(error)
            else:
                outcome.set_result(job.result())

        job.add_done_callback(finished)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Start a fresh pool in place of ``broken``, once however many jobs saw it break."""
        with self._lock:
            if self._pool is not broken:
                return
            log.error("a worker process died; starting new workers and retrying its jobs")
            broken.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)
