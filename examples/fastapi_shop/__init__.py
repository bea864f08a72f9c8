"""wg with FastAPI: tasks enqueued from routes, results read back (docs/integrations.md)."""
