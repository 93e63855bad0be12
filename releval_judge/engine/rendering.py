"""Prompt templates rendered off the event loop, each render stopped at its time limit.

A judge's template is code written by a user: a loop over ``range`` nested in ``range``,
or over the characters of a long document twice, keeps a CPU busy for minutes without
building anything the sandbox would refuse. Rendered on the event loop, it would stop
every request and every judging run of the process. So templates are compiled and
rendered in the threads of a :class:`TemplateRenderer` (a few threads of its own, owned by
the app's lifespan), and the event loop only awaits the result.

Python cannot kill a thread; it can raise an exception in one
(``PyThreadState_SetAsyncExc``), which the thread meets at its next bytecode: every step
of a template (a loop's turn, a filter call) is bytecode, and the sandbox keeps each C-level
operation small (``releval_judge.sandbox``), so the exception comes promptly. A watchdog
thread of the renderer looks at the renders in progress a few times per time limit and
raises :class:`RenderTimeout` in any that has run past it. The exception is raised only
while its render is in progress (both sides hold the same lock), so that it can never
land in the renderer's own code or in the next render; the thread is then free for the next.

Rendering a batch is on the judging hot path (hundreds a second): a call is one put on a
queue and one ``call_soon_threadsafe`` back, which costs a third of what
``loop.run_in_executor`` does with its two chained futures (docs/security.md, "Templates
and exports").
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from releval_judge.prompt import JudgePrompt, TemplateLimitError, TemplateLimits, template_line

__all__ = ["RenderTimeout", "TemplateRenderer"]

T = TypeVar("T")

WATCHDOG_TICKS = 10
"""How many times per time limit the watchdog looks (a render overruns by a tenth at most)."""


class RenderTimeout(BaseException):
    """Raised inside a render that ran past its time limit. A BaseException, so that no
    ``except Exception`` on the way (Jinja2's, the prompt module's) can swallow it."""


@dataclass(slots=True)
class _Render:
    started: float
    stopped: bool = False


_Job = tuple[
    asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...], str
]


class TemplateRenderer:
    """Runs template work (compiling, rendering a batch) in ``threads`` threads of its own,
    each call stopped after ``limits.timeout_s``. No thread is created per call."""

    def __init__(
        self, limits: TemplateLimits, *, threads: int = 2, name: str = "templates"
    ) -> None:
        self.limits = limits
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._renders: dict[int, _Render] = {}
        self._closed = False
        self._workers = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(threads)
        ]
        self._watchdog_stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name=f"{name}-watchdog", daemon=True)
        for thread in (*self._workers, self._watchdog):
            thread.start()

    async def judge_prompt(self, source: str | None) -> JudgePrompt:
        """The judge's template compiled, and checked on the sample batches (see
        ``prompt.compile_template``), within the limits. Raises TemplateError."""
        return await self.run(
            JudgePrompt, source, self.limits, what="compile and render its sample batches"
        )

    async def run(
        self, function: Callable[..., T], *args: object, what: str = "render one batch"
    ) -> T:
        """``function(*args)`` in one of the renderer's threads; raises TemplateLimitError
        saying it took longer than the time limit to ``what``."""
        if self._closed:
            raise RuntimeError("the template renderer is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, function, args, what))
        return await future

    @property
    def in_progress(self) -> int:
        """How many renders are running in the renderer's threads now."""
        with self._lock:
            return len(self._renders)

    def close(self) -> None:
        """Let the renders queued and in progress end (each within its time limit), then
        stop the threads."""
        self._closed = True
        for _ in self._workers:
            self._jobs.put(None)
        for worker in self._workers:
            worker.join()
        self._watchdog_stop.set()
        self._watchdog.join()

    # --- in the renderer's threads --------------------------------------------------------

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, function, args, what = job
            if future.cancelled():
                continue  # its caller went away while it waited (a racy read, harmless)
            result: Any = None
            error: BaseException | None = None
            try:
                result = self._timed(function, args, what)
            except BaseException as exc:  # the thread must live on, whatever happened
                error = exc
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, future, result, error)

    def _timed(self, function: Callable[..., T], args: tuple[object, ...], what: str) -> T:
        thread = threading.get_ident()
        render = _Render(started=time.monotonic())
        try:
            with self._lock:
                self._renders[thread] = render
            try:
                return function(*args)
            finally:
                self._end(thread, render)
        except RenderTimeout as exc:
            self._end(thread, render)  # if it came before the first _end could finish
            raise TemplateLimitError(
                f"the prompt template took longer than {self.limits.timeout_s:g} s to {what} "
                "(RELEVAL_TEMPLATE_TIMEOUT_S)",
                template_line(exc),
            ) from None

    def _end(self, thread: int, render: _Render) -> None:
        with self._lock:
            if self._renders.get(thread) is render:
                del self._renders[thread]
            if render.stopped:
                # Raised already, or still pending: cleared, so that it cannot land
                # anywhere after this render (the watchdog raises it once per render).
                _raise_in(thread, None)

    # --- in the watchdog's thread ---------------------------------------------------------

    def _watch(self) -> None:
        timeout = self.limits.timeout_s
        while not self._watchdog_stop.wait(timeout / WATCHDOG_TICKS):
            now = time.monotonic()
            with self._lock:
                for thread, render in self._renders.items():
                    if not render.stopped and now - render.started > timeout:
                        render.stopped = True
                        _raise_in(thread, RenderTimeout)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return  # the caller went away (a cancelled run): its render ended all the same
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _raise_in(thread: int, exception: type[BaseException] | None) -> None:
    """Raise ``exception`` in ``thread`` at its next bytecode (None: clear a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread), ctypes.py_object(exception) if exception else None
    )
