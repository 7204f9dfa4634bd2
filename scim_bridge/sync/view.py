"""The translator's view of the directory: now directory/mapping_view.py, shared with monitor."""

from __future__ import annotations

from scim_bridge.directory.mapping_view import DatabaseDirectory

__all__ = ["DatabaseDirectory"]
