"""The `jobstream` command: the terminal client (HTTP, SSE, live bars, events), the worker
process and the server commands. The top layer: nothing imports it."""
