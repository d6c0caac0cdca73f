"""The domain core: events, commands, the job state machine, the event store and the workers."""
