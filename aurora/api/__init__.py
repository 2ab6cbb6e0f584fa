"""Aurora API: the FastAPI pre-trade risk gate (``create_app(settings)``)."""

from aurora.api.app import create_app

__all__ = ["create_app"]
