"""The HTTP edge: the FastAPI app, its guards, schemas, state and the uvicorn server."""
