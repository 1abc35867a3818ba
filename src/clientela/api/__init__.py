"""The HTTP server: Segment-compatible ingestion, the read API, keys."""

from clientela.api.app import create_app

__all__ = ["create_app"]
