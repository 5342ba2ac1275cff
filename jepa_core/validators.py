"""Field validators for attrs config records (options of the core and of plugins).

>>> import attrs
>>> @attrs.frozen
... class Opts:
...     width: int = attrs.field(default=8, validator=positive)
>>> Opts(width=0)
Traceback (most recent call last):
ValueError: width must be > 0, got 0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs


def positive(_inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attr.name} must be > 0, got {value!r}")


def non_negative(_inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if value is not None and not value >= 0:
        raise ValueError(f"{attr.name} must be >= 0, got {value!r}")


def at_least(bound: int) -> Callable[[Any, attrs.Attribute, Any], None]:
    """A validator: the value is ``>= bound``.

    >>> @attrs.frozen
    ... class Opts:
    ...     knots: int = attrs.field(default=17, validator=at_least(2))
    >>> Opts(knots=1)
    Traceback (most recent call last):
    ValueError: knots must be >= 2, got 1
    """

    def check(_inst: Any, attr: attrs.Attribute, value: Any) -> None:
        if not value >= bound:
            raise ValueError(f"{attr.name} must be >= {bound}, got {value!r}")

    return check


def adam_betas(_inst: Any, attr: attrs.Attribute, value: Any) -> None:
    """AdamW's ``(beta1, beta2)``: each in [0, 1)."""
    if not all(0.0 <= b < 1.0 for b in value):
        raise ValueError(f"{attr.name} must be two values in [0, 1), got {value!r}")


def momentum_range(_inst: Any, attr: attrs.Attribute, value: Any) -> None:
    """A momentum coefficient: in [0, 1)."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{attr.name} must be in [0, 1), got {value!r}")


def unit_interval(_inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attr.name} must be in [0, 1], got {value!r}")


def finite_non_negative(_inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{attr.name} must be a finite number >= 0, got {value!r}")


def finite_positive(_inst: Any, attr: attrs.Attribute, value: Any) -> None:
    """A finite number > 0, or ``None`` where the field is optional."""
    if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{attr.name} must be a finite number > 0, got {value!r}")


def path_or_none(_inst: Any, attr: attrs.Attribute, value: Any) -> None:
    """A file or folder path, or ``None`` where the field is optional: an empty or blank string
    (an unset shell variable, ``--out "$OUT"``) is refused rather than read as the current folder."""
    if value is not None and not str(value).strip():
        raise ValueError(f"{attr.name} must be a path, got an empty string")
