"""The ``tracking`` command."""
from __future__ import annotations
import sys
def main(argv: list[str] | None = None) -> int:
    return 0
