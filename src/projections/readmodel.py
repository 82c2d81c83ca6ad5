"""What a read model is made of: a projection (the domain events it follows,
a handler per event type registered on ``process_event`` with the
eventsourcing library's ``@singledispatchmethod``, as in its examples) and
a view (a small interface of its own, implemented in memory and in SQL)
whose position in the log is written in the same transaction as its rows.

A read model is one module declaring a ``ReadModel``, plus one line in
``registry.READ_MODELS``. ``runner.ReadModelRunner`` keeps them all up to
date, each at its own position; its docstring says why these are not the
library's ``Projection`` and ``ProjectionRunner`` (batches).
"""

from __future__ import annotations

import inspect
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from eventsourcing.dispatch import singledispatchmethod

if TYPE_CHECKING:
    from projections.sql import Database

C = TypeVar("C")  # what one batch changes in a view
V = TypeVar("V", bound="View[Any]")


class ViewConflict(Exception):
    """Another runner advanced the view since this one read its position:
    nothing was written; read the position again and go on from there."""


class View(ABC, Generic[C]):
    """A read model's rows, and the log position of the last event they hold."""

    name: str

    @abstractmethod
    def position(self) -> int:
        """The log position of the last event the view has processed (0: none)."""

    @abstractmethod
    def commit(self, changes: C, *, after: int, position: int) -> None:
        """Write what a batch changed and move the position from ``after`` to
        ``position``, all or nothing. Raises ViewConflict when the position
        is no longer ``after``."""

    @abstractmethod
    def reset(self) -> None:
        """Empty the view and set its position back to 0, for a rebuild."""


class MemoryView(View[C]):
    """A view in memory (tests, and a rebuild to compare a database with):
    subclasses say how to empty their rows and how to write a batch."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._position = 0
        self._clear()

    def position(self) -> int:
        return self._position

    def commit(self, changes: C, *, after: int, position: int) -> None:
        with self._lock:
            if self._position != after:
                raise ViewConflict(f"the {self.name} view is at {self._position}, not {after}")
            self._write(changes)
            self._position = position

    def reset(self) -> None:
        with self._lock:
            self._clear()
            self._position = 0

    @abstractmethod
    def _clear(self) -> None: ...

    @abstractmethod
    def _write(self, changes: C) -> None: ...


class BatchProjection(ABC, Generic[V]):
    """Turns domain events into changes of one view, a batch at a time.

    A subclass declares its own ``process_event`` with ``@singledispatchmethod``
    and registers one handler per event type it follows (an event of any other
    type is not its concern); ``begin`` starts a batch, loading from the view
    what applying it needs in one query; ``changes`` says what the batch
    changed, for the view's ``commit``."""

    def __init__(self, view: V) -> None:
        self.view = view
        self._handlers: dict[type, Callable[..., None] | None] = {}

    def process_batch(self, batch: Sequence[tuple[Any, int]], *, after: int) -> None:
        """Apply events (each with its log position, in log order) that follow
        position ``after``, and commit them with the view, whose position
        moves to the last one's."""
        if batch:
            self.begin([event for event, _ in batch], fresh=False)
            self._process(batch)
            self.view.commit(self.changes(), after=after, position=batch[-1][1])

    def replay_streams(self, streams: Sequence[Sequence[Any]], *, at: int) -> None:
        """Replay whole streams (each one aggregate's events, in version order)
        into an emptied view and write them, its position staying at ``at``
        (a rebuild: each aggregate's rows are written once)."""
        events = [event for stream in streams for event in stream]
        self.begin(events, fresh=True)
        self._process((event, at) for event in events)
        self.view.commit(self.changes(), after=at, position=at)

    def advance(self, *, after: int, position: int) -> None:
        """Move the view's position on, writing nothing (a rebuild's end)."""
        self.begin([], fresh=True)
        self.view.commit(self.changes(), after=after, position=position)

    def _process(self, batch: Iterable[tuple[Any, int]]) -> None:
        """Each event to the handler ``process_event`` has for its type, looked
        up once per type; an event of a type with none is passed over."""
        handlers = self._handlers
        for event, position in batch:
            cls = type(event)
            try:
                handler = handlers[cls]
            except KeyError:
                handler = handlers[cls] = self._handler(cls)
            if handler is not None:
                handler(self, event, position)

    def _handler(self, cls: type) -> Callable[..., None] | None:
        self.process_event  # noqa: B018 - binding it registers the deferred handlers
        method = inspect.getattr_static(type(self), "process_event")
        handler: Callable[..., None] = method.dispatcher.dispatch(cls)
        return None if handler is method.func else handler  # the default: not its concern

    @abstractmethod
    def begin(self, events: Sequence[Any], *, fresh: bool) -> None:
        """Start a batch of these events: nothing changed yet, and what they
        need loaded from the view, unless ``fresh`` (the view is empty)."""

    @singledispatchmethod
    @abstractmethod
    def process_event(self, event: Any, position: int) -> None:
        """Apply one event, recorded at log position ``position``."""

    @abstractmethod
    def changes(self) -> Any:
        """What the batch changed, as the view's ``commit`` takes it."""


@dataclass(frozen=True)
class ReadModel(Generic[V]):
    """One read model: its name (the key of its position, what `tracking
    rebuild` is given, the metrics' label), its projection, and how its view
    is built in memory and on a database."""

    name: str
    projection: Callable[[V], BatchProjection[V]]
    memory: Callable[[str], V]
    sql: Callable[[Database, str], V]


class Views:
    """The views of a process's read models, all in memory or all on one
    database (whose connections they share)."""

    def __init__(self, views: dict[str, tuple[ReadModel[Any], View[Any]]],
                 database: Database | None = None) -> None:
        self._views = views
        self.database = database

    @classmethod
    def in_memory(cls, models: Sequence[ReadModel[Any]]) -> Views:
        return cls({m.name: (m, m.memory(m.name)) for m in models})

    @classmethod
    def on(cls, database: Database, models: Sequence[ReadModel[Any]]) -> Views:
        return cls({m.name: (m, m.sql(database, m.name)) for m in models}, database)

    def __getitem__(self, model: ReadModel[V]) -> V:
        view: V = self._views[model.name][1]
        return view

    def get(self, model: ReadModel[V]) -> V | None:
        return self[model] if model.name in self._views else None

    def __iter__(self) -> Iterator[tuple[ReadModel[Any], View[Any]]]:
        return iter(self._views.values())

    def names(self) -> list[str]:
        return list(self._views)

    def position(self) -> int:
        """How far every view has got: the position of the one furthest behind
        (what "read your writes" waits for)."""
        return min((view.position() for _, view in self), default=0)

    def reset(self) -> None:
        for _, view in self:
            view.reset()

    async def aclose(self) -> None:
        """Close what reads from an event loop opened in the running one."""
        if self.database is not None:
            await self.database.aclose()

    def close(self) -> None:
        if self.database is not None:
            self.database.close()
