"""The HTTP API (Litestar), as docs/API.md documents it."""
