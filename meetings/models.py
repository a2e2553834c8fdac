"""The weekly sync: the models arrive with issue 5."""
