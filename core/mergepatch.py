"""JSON merge patch (RFC 7396): what a PATCH of a JSON object means at every depth."""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """``target`` with ``patch`` applied: an object patch merges member by member (``null``
    removes a member, nested objects merge recursively); anything else replaces the target.
    Neither argument is modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
