"""The views read from a PostgreSQL streaming replica.

A hot standby replays everything the primary writes, views included, and
refuses every write (CREATE TABLE IF NOT EXISTS too). So here a view's
tables are not created but waited for: they appear once the primary's
processes have created them and the replica has replayed that. Each view's
position is read on the replica, so ``min_position`` (read your writes)
waits for what the replica has replayed, not for what the primary has.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from projections.sql import PostgresDatabase, Writer


class ReadOnlyViews(Exception):
    """A write was asked of the views on a read replica."""


class ReplicaDatabase(PostgresDatabase):
    tables_timeout = 30.0  # how long a view waits for its tables to be replayed

    def create(self, view: str, tables: Mapping[str, str], indexes: Sequence[str] = ()) -> None:
        """Wait (bounded) until the replica has the view's tables."""
        names = ["view_positions", *tables]
        deadline = time.monotonic() + self.tables_timeout
        while True:
            missing = [t for t in names
                       if self.query_one("SELECT to_regclass(?)", (t,)) == (None,)]
            if not missing:
                return
            if time.monotonic() >= deadline:
                raise ReadOnlyViews(
                    f"the read replica has no table {', '.join(missing)} of the {view} view in "
                    f"schema {self.schema} after {self.tables_timeout:.0f} s: is it replicating "
                    "TRACKING_DATABASE_URL, and has a process there created the views?")
            time.sleep(0.2)

    @contextmanager
    def transaction(self) -> Iterator[Writer]:
        raise ReadOnlyViews("the views on the read replica are read-only; write on the primary")
        yield  # pragma: no cover - a generator, for contextmanager

    def reset(self, view: str, tables: Sequence[str]) -> None:
        raise ReadOnlyViews(f"the {view} view is reset on the primary, not on a read replica")
