"""Deterministic synthetic dermoscopy images and study metadata for tests and the demo."""
