"""Rules for talking to the outside: the private-network guard, Retry-After and which
statuses are transient. Shared by crawling and webhook delivery."""
