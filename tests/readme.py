"""The README's shell examples, as a newcomer would copy them."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def sh_block(section: str, containing: str) -> str:
    """The first ```sh block of the README's ``## section`` that contains
    ``containing``, as written."""
    text = README.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    for block in re.findall(r"```sh\n(.*?)```", text[start:end if end > 0 else None], re.S):
        if containing in block:
            return str(block)
    raise AssertionError(f"README: no sh block with {containing!r} under '## {section}'")


def curl_body(block: str, path: str) -> str:
    """The JSON body (``-d '...'``) of the block's curl to ``path``."""
    match = re.search(re.escape(path) + r"[^\n]*?-d '(.*?)'", block, re.S)
    if match is None:
        raise AssertionError(f"README: no curl with a body to {path}")
    return match[1]
