"""Outcome TTP: the FastAPI service and its plain modules."""
