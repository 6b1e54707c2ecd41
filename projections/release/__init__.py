"""A release: a projection of the log at a position (DESIGN section 6).

replay (the log folded to the position), writer (gates, files, manifest), docs
(datasheet, charts, Croissant), verify (offline verification) and diff.
"""
