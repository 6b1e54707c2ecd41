"""Annotators', pathologists' and coordinators' pages (work queues)."""

from __future__ import annotations

from starlette.routing import Route


def routes() -> list[Route]:
    return []
