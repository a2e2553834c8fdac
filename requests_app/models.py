"""Feature requests: the models arrive with issue 3."""
