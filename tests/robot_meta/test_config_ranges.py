"""Config ranges (issue 17): every algorithm's fields state their range next to them (`config.ranged`), and a value
just outside it, from a file or `--set`, is refused with the field's name and the value."""

import dataclasses
import math

import pytest

from robot_meta.config import ConfigError, apply
from robot_meta.registry import algorithm_class, algorithm_names


def _outside(lo: float, hi: float, open_lo: bool, is_int: bool) -> list[float]:
    out = [lo if open_lo else (lo - 1 if is_int else lo - 1e-3)]
    if hi != math.inf:
        out.append(hi + 1 if is_int else hi * 1.001 + 1e-3)
    return out


@pytest.mark.parametrize("algo", algorithm_names())
def test_every_declared_range_refuses_a_value_outside_it_by_name(algo):
    cfg = algorithm_class(algo).config_class()
    ranged = [f for f in dataclasses.fields(cfg) if "range" in f.metadata]
    assert len(ranged) >= 10, f"{algo}: most of its fields should declare a range"
    for f in ranged:
        lo, hi, open_lo = f.metadata["range"]
        value = getattr(cfg, f.name)
        is_int = isinstance(value[0] if isinstance(value, tuple) else value, int)
        for bad in _outside(lo, hi, open_lo, is_int):
            bad = int(bad) if is_int else bad
            given = [bad] if isinstance(value, tuple) else bad
            with pytest.raises(ConfigError, match=rf"config {f.name}=.* must be"):
                apply(cfg, {f.name: given})
        apply(cfg, {f.name: value})  # the default is inside its own range
