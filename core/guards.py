"""Bases that cannot be bypassed: a subclass may not redefine what its base owns."""

from __future__ import annotations


def refuse_overrides(cls: type, owned: frozenset[str], owner: str, instead: str) -> None:
    """Raise ``TypeError`` at class creation when ``cls`` itself defines one of ``owned``."""
    overridden = owned & set(vars(cls))
    if overridden:
        raise TypeError(
            f"{cls.__name__} must not override {', '.join(sorted(overridden))}: they are owned "
            f"by {owner}; {instead}."
        )
