"""The named warehouses' application service (``service.warehouses``):
name one in an account's book, and say which LOCODE a ``warehouse`` field
means for an account (a command's part: it loads the book)."""

from __future__ import annotations

from tracking.identifiers import Locode
from tracking.outcomes import WriteResult
from tracking.scan import Source
from tracking.unitofwork import AggregateStore, UnitOfWork, last_position
from tracking.warehouse import WarehouseBook, resolve, warehouse_book_id


class Warehouses:
    def __init__(self, store: AggregateStore) -> None:
        self.store = store

    def name(self, account: str, name: str, locode: Locode, source: Source) -> WriteResult:
        """Name the account's warehouse at ``locode``: the same again changes
        nothing; a name or LOCODE taken otherwise raises WarehouseConflict."""
        book_id = warehouse_book_id(account)

        def command(unit: UnitOfWork) -> bool:
            book = unit.get(book_id, WarehouseBook) or WarehouseBook.open(account)
            changed = book.name(name, locode, source)
            if changed:
                unit.changed(book)
            return changed

        recordings, changed = self.store.write([book_id], command)
        return WriteResult(changed, last_position(recordings))

    def named(self, account: str) -> dict[str, Locode]:
        """The account's warehouses, name: LOCODE, as recorded now."""
        book = self.store.get(warehouse_book_id(account), WarehouseBook)
        return dict(book.named) if book is not None else {}

    def locode(self, account: str, text: str, field: str = "warehouse") -> Locode:
        """The LOCODE ``text`` means for the account: a LOCODE, or one of its
        warehouses' names (else InvalidInput naming ``field``)."""
        return resolve(self.named(account), text, field)
