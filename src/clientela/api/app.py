"""The server's app factory: one FastAPI app per workspace.

Routers: ingestion (``/v1/*``, Segment's HTTP Tracking API, :mod:`clientela.api.ingest`),
the read API (``/api/*``, :mod:`clientela.api.read`; its predictions in
:mod:`clientela.api.predict`), runs of the main job (``/api/runs``,
:mod:`clientela.api.runs`), deliveries (``/api/deliveries``, ``/api/deliver``,
:mod:`clientela.api.deliveries`), the admin API (``/api/admin/*``, :mod:`clientela.api.admin`) and
the privacy API (``/api/privacy/*``, :mod:`clientela.api.privacy`).
Which kind of key each takes is stated in :mod:`clientela.api.auth`. Errors are always JSON
with ``code`` and ``message`` (:mod:`clientela.api.errors`).
"""

from __future__ import annotations

from fastapi import FastAPI

from clientela.api.actions import router as actions_router
from clientela.api.admin import router as admin_router
from clientela.api.deliveries import router as deliveries_router
from clientela.api.errors import install_handlers
from clientela.api.ingest import install as install_ingestion
from clientela.api.loyalty import router as loyalty_router
from clientela.api.predict import router as predict_router
from clientela.api.privacy import router as privacy_router
from clientela.api.read import router as read_router
from clientela.api.runs import router as runs_router
from clientela.api.segments import router as segments_router
from clientela.workspace import Workspace


def create_app(workspace: Workspace) -> FastAPI:
    """The app serving ``workspace``; ``app.state.workspace`` is what routes read."""
    app = FastAPI(
        title="clientela",
        summary="Segment-compatible ingestion and the read API of a clientela workspace.",
        version="0.1.0",
        docs_url=None,  # served from the package (no CDN) by the read API's docs route
        redoc_url=None,
    )
    app.state.workspace = workspace
    install_handlers(app)
    install_ingestion(app)  # /v1/*, and the HTTP log and its compactor for the app's life
    # Before the read API: its contact sub-routes must precede /api/contacts/{contact:path}.
    app.include_router(predict_router)  # /api/predictions*, /api/contacts/{c}/predictions...
    app.include_router(actions_router)  # /api/actions*, /api/contacts/{c}/actions, /api/policy/*
    app.include_router(loyalty_router)  # /api/loyalty, /api/contacts/{c}/loyalty
    app.include_router(read_router)  # /api/* (read keys), /docs (Swagger UI, no CDN)
    app.include_router(segments_router)  # /api/segments* (reads: read keys; POST: admin)
    app.include_router(runs_router)  # /api/runs (start: admin keys; follow: read keys)
    app.include_router(deliveries_router)  # /api/deliveries (read keys), /api/deliver (admin)
    app.include_router(admin_router)  # /api/admin/* (admin keys)
    app.include_router(privacy_router)  # /api/privacy/* (admin keys)
    return app
