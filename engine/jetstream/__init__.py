"""Everything that speaks NATS JetStream: the event store, the recorder, acks, KV, the work
queue, result bodies, pick-up, atomic batches, connection access and the embedded server."""
