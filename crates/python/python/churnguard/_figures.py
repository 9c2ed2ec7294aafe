"""Figures of a job as an object: ``comparison.models[0].auc`` rather than nested dicts."""

from __future__ import annotations

import copy
from typing import Any


class Figures:
    """Read-only figures with attribute access; ``to_dict()`` gives the plain data back (the
    command line's ``--json`` form), and ``figures["key"]`` works as on a dict."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        object.__setattr__(self, "_data", data)

    def __getattr__(self, name: str) -> Any:
        # Only figures are looked up here: `_data` and dunders (as copy and pickle probe them on
        # an empty instance) are plain attribute errors, never a lookup in `_data`.
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return _wrap(self._data[name])
        except KeyError:
            raise AttributeError(f"no figure {name!r} (there are: {', '.join(self._data)})") from None

    def __reduce__(self):
        return (Figures, (self._data,))

    def __getitem__(self, name: str) -> Any:
        return _wrap(self._data[name])

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("figures are read-only")

    def __dir__(self) -> list[str]:
        return [*self._data, "to_dict"]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Figures) and self._data == other._data

    def __repr__(self) -> str:
        return f"Figures({', '.join(self._data)})"

    def to_dict(self) -> dict[str, Any]:
        """The figures as plain dicts, lists and numbers (a copy)."""
        return copy.deepcopy(self._data)


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return Figures(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value
