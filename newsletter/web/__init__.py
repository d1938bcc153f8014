"""`newsletter serve`: the subscriber's side: unsubscribe, double opt-in signup, the archive."""
