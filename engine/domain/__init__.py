"""The pure core: events, commands, decide/evolve, the job model, ids and errors.

Imports only the standard library, msgspec and ulid (a test says so)."""
