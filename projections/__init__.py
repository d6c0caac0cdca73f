"""The read model: SQLite tables derived from the JOBS log, rebuildable from sequence 1."""
