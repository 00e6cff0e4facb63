"""A Prefect flow whose plain JSON parameters are recorded without FastAPI's encoder.

Prefect records a flow run's parameters through FastAPI's `jsonable_encoder`, and importing
FastAPI for it costs ~0.6 s of CPU in every one-off command (measured: a third of a seed
ingest's flow overhead). crwatch's flows take only strings, numbers, booleans, None and lists
of those, which are JSON already: they are recorded as they are. Anything else goes through
Prefect's own serialisation, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Flow

P = ParamSpec("P")
R = TypeVar("R")
_SCALARS = (str, int, float, bool, type(None))


def _plain(value: object) -> bool:
    """JSON-native: a scalar, or a list/tuple of scalars."""
    if isinstance(value, _SCALARS):
        return True
    return isinstance(value, list | tuple) and all(isinstance(v, _SCALARS) for v in value)


class PlainParametersFlow(Flow[P, R]):
    """`prefect.Flow`, recording JSON-native parameters without importing FastAPI."""

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """The parameters as stored with the flow run (see the module docstring)."""
        if all(_plain(value) for value in parameters.values()):
            return {k: list(v) if isinstance(v, tuple) else v for k, v in parameters.items()}
        return super().serialize_parameters(parameters)


def plain_flow(**options: Any) -> Callable[[Callable[P, R]], Flow[P, R]]:
    """Like `@prefect.flow(**options)`, making a `PlainParametersFlow`."""

    def wrap(fn: Callable[P, R]) -> Flow[P, R]:
        return PlainParametersFlow(fn, **options)

    return wrap
