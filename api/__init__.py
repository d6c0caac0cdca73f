"""The HTTP API (Litestar), authentication, and the `jobstream` command."""
