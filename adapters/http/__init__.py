"""The HTTP API (Litestar): the contract of ../shared/CONTRACT.md."""
