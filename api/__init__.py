"""The HTTP API (Litestar): routes, authentication, errors, limits, and the composition root
that opens what a server process runs (api/runtime.py)."""
