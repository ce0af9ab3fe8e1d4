"""The sourcegrid web application (FastAPI, server-rendered pages, REST API under /api).

``create_app(workspace_path)`` builds the app; ``sourcegrid serve`` runs it with
uvicorn. See :mod:`sourcegrid.web.app`.
"""

from sourcegrid.web.app import create_app

__all__ = ["create_app"]
