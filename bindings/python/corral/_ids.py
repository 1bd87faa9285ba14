"""Argument checking shared by the drivers and the helpers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class _HasValue(Protocol):
    @property
    def value(self) -> str: ...


def id_value(value: str | _HasValue, name: str) -> str:
    """The string of an ID given as a str or as an ID message (TaskID, AgentID...)."""
    if isinstance(value, str):
        if not value:
            raise ValueError(f"{name}: must not be empty")
        return value
    inner = getattr(value, "value", None)
    if isinstance(inner, str) and hasattr(value, "DESCRIPTOR"):
        if not inner:
            raise ValueError(f"{name}: must not be empty")
        return inner
    raise TypeError(f"{name}: expected a str or an ID message, got {type(value).__name__}")


def non_negative(value: Any, name: str) -> float:
    """A number >= 0 (bools refused: they are almost always a mistake here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    if value != value or value < 0:  # NaN or negative
        raise ValueError(f"{name}: must be a number >= 0, got {value!r}")
    return float(value)


def strings(values: str | Iterable[str], name: str) -> list[str]:
    """A list of strings, from one string or an iterable of them."""
    if isinstance(values, str):
        return [values]
    out = list(values)
    for v in out:
        if not isinstance(v, str):
            raise TypeError(f"{name}: expected strings, got {type(v).__name__}")
    return out
