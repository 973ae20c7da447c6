"""Group commit: units of work from many threads, committed together.

A durable commit costs one fsync (SQLite ``synchronous=FULL``, PostgreSQL's WAL
flush) and, on SQLite, the single writer lock. When officers submit messages
concurrently, each request waiting for its own commit spends most of its time
queueing for the lock and the disk. :class:`GroupCommit` runs the units of work
that arrive while a commit is under way in **one** transaction:

* The first caller to find no batch running becomes the *leader*: it takes the
  queued units (up to ``max_batch``, its own first), runs each in a SAVEPOINT
  of one session, commits once, and hands each caller its result or its error.
  Callers that arrive meanwhile wait; when the leader is done, the oldest of
  them leads the next batch. No thread of its own, nothing bound to a thread
  (a unit may run in another caller's thread, so units must not rely on
  thread-locals — none in Accord do).
* **Isolation per unit.** A unit that raises has its savepoint rolled back —
  its rows, and its audit entries through the ``mark``/``rewind`` hooks
  (:meth:`accord.audit.services.AuditLog.mark`) — and the caller gets its own
  exception; the other units commit. If the commit itself fails, every unit of
  the batch gets the error: nothing of the batch was written (all or nothing,
  as for a single unit of work).
* **Same guarantees as** :func:`accord.db.unit_of_work`: a caller returns only
  after the transaction holding its writes committed; a busy database is a
  :class:`~accord.db.WriterBusy` (503).

A unit must not open a transaction of its own on the same database (on SQLite
it would wait for the leader's writer lock): only self-contained use cases use
it (sending and replying to messages).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from accord.db import is_busy
from accord.errors import WriterBusy

__all__ = ["GroupCommit"]

T = TypeVar("T")
Mark = Callable[[Session], Any]
Rewind = Callable[[Session, Any], None]


@dataclass(eq=False)
class _Unit(Generic[T]):
    fn: Callable[[Session], T]
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    finished: bool = False
    result: Any = None
    error: BaseException | None = None


class GroupCommit:
    """Commit concurrent units of work together (see the module docstring)."""

    def __init__(self, sessions: sessionmaker[Session], *, mark: Mark, rewind: Rewind,
                 max_batch: int = 64) -> None:
        self._sessions = sessions
        self._mark = mark
        self._rewind = rewind
        self.max_batch = max(1, max_batch)
        self._lock = threading.Lock()
        self._queue: deque[_Unit[Any]] = deque()
        self._leading = False
        self.batches = 0  # committed transactions (for tests and the benchmark)
        self.units = 0

    def run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in a transaction shared with concurrent callers; return its
        result once that transaction committed, or raise its error (or the commit's)."""
        unit: _Unit[T] = _Unit(fn)
        with self._lock:
            self._queue.append(unit)
            if not self._leading:
                self._leading = unit.lead = True
        while not unit.lead and not unit.finished:
            unit.done.wait()
            unit.done.clear()
        if not unit.finished:
            self._lead()
        if unit.error is not None:
            raise unit.error
        return unit.result  # type: ignore[no-any-return]

    def _lead(self) -> None:
        try:
            with self._lock:
                batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            self._commit(batch)
        finally:
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.done.set()
                else:
                    self._leading = False

    def _commit(self, batch: list[_Unit[Any]]) -> None:
        session = self._sessions()
        try:
            for unit in batch:
                mark = self._mark(session)
                savepoint = session.begin_nested()
                try:
                    unit.result = unit.fn(session)
                    savepoint.commit()
                except BaseException as exc:
                    if savepoint.is_active:
                        savepoint.rollback()
                    self._rewind(session, mark)
                    unit.error = exc
            session.commit()
            self.batches += 1
            self.units += len(batch)
        except BaseException as exc:
            session.rollback()
            error: BaseException = exc
            if isinstance(exc, sa_exc.SQLAlchemyError) and is_busy(exc):
                error = WriterBusy("the database is busy; retry later", retry_after=1)
                error.__cause__ = exc
            for unit in batch:
                if unit.error is None:
                    unit.error, unit.result = error, None
        finally:
            session.close()
            for unit in batch:
                unit.finished = True
                unit.done.set()
