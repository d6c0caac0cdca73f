"""Live delivery of the log: the SSE fan-out hub with resume, and webhooks."""
