"""Sources: how a family of novel sites is read (:mod:`.base`), the built-in themes, the
declarative selectors source, and the registry matching URLs to sources."""
