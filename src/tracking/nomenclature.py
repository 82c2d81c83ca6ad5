"""An HS nomenclature: which HS-6 subheadings exist, and what each is.

The package ships HS 2022 as published by UN Comtrade
(``data/harmonized-system.csv``, provenance in ``data/README.md``), so
subheadings are checked out of the box. Nomenclatures change every five
years (HS 2017, HS 2022, ...): a deployment can configure another file in
the same shape (``section,hscode,description,parent,level``), and the
compliance check reports declared subheadings that are not in it.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources

import msgspec

from tracking.errors import InvalidInput


class Nomenclature(msgspec.Struct, frozen=True):
    subheadings: dict[str, str]  # HS-6 code -> description

    def __contains__(self, code: object) -> bool:
        return code in self.subheadings

    def describe(self, code: str) -> str | None:
        return self.subheadings.get(code)

    @classmethod
    def from_csv(cls, text: str) -> Nomenclature:
        """The HS-6 lines of a CSV with ``hscode`` and ``description``
        columns (other rows: chapters, headings, are skipped)."""
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        if not reader.fieldnames or not {"hscode", "description"} <= set(reader.fieldnames):
            raise InvalidInput(
                "nomenclature", "needs a header with 'hscode' and 'description' columns"
            )
        found = {
            row["hscode"]: row["description"]
            for row in reader
            if len(row["hscode"] or "") == 6 and row["hscode"].isdigit()
        }
        if not found:
            raise InvalidInput("nomenclature", "holds no HS-6 subheading")
        return cls(found)


SHIPPED_FILE = "data/harmonized-system.csv"  # in the tracking package


@cache
def shipped() -> Nomenclature:
    """The nomenclature shipped with the package (HS 2022), read once."""
    text = resources.files("tracking").joinpath(SHIPPED_FILE).read_text("utf-8-sig")
    return Nomenclature.from_csv(text)
