"""The HTTP server: FastAPI app factory, webhook intake, health and the task API."""
