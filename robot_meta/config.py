"""Frozen-dataclass configs built once from defaults + a YAML file + `--set key=value` overrides.

Each algorithm keeps its config dataclass next to its code, with documented defaults. The CLI calls
`build_config` and writes the resolved config into the run dir, so a run is reproducible from its own
`config.json`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

C = TypeVar("C")


MAX_INT = 10**9  # no count in a config (sizes, capacities, iterations) is this large; 1e20 is a typo or an attack


class ConfigError(ValueError):
    """A config key that does not exist, or a value of the wrong type; the message names both."""


def _coerce(name: str, kind: Any, value: Any) -> Any:
    origin = typing.get_origin(kind)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"config {name}={value!r} must be true or false")
    if kind is int:
        given = value
        try:
            if isinstance(value, bool):  # YAML's `true` is not a batch size
                raise ValueError
            if isinstance(value, str):
                value = float(value) if any(c in value for c in ".eE") else int(value)
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            out = int(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"config {name}={given!r} must be an integer") from None
        if abs(out) > MAX_INT:
            raise ConfigError(f"config {name}={given!r} is beyond any sensible setting (|value| <= {MAX_INT:.0e})")
        return out
    if kind is float:
        try:
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config {name}={value!r} must be a number") from None
        if not math.isfinite(out):
            raise ConfigError(f"config {name}={value!r} must be a finite number")
        return out
    if kind is str:
        return str(value)
    if origin is tuple:
        if isinstance(value, str):
            value = [
                v for v in value.replace("(", "").replace(")", "").replace("[", "").replace("]", "").split(",") if v.strip()
            ]
        if not isinstance(value, Sequence):
            raise ConfigError(f"config {name}={value!r} must be a list")
        inner = typing.get_args(kind)[0]
        return tuple(_coerce(name, inner, v.strip() if isinstance(v, str) else v) for v in value)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        return _coerce(name, args[0], value)
    return value


def apply(cfg: C, overrides: Mapping[str, Any]) -> C:
    """A copy of `cfg` with `overrides` applied, each coerced to its field's type; unknown keys refused."""
    hints = typing.get_type_hints(type(cfg))
    fields = {f.name for f in dataclasses.fields(cfg)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"unknown config key(s) {unknown} for {type(cfg).__name__}; known: {sorted(fields)}")
    values = {k: _coerce(k, hints[k], v) for k, v in overrides.items()}
    new = dataclasses.replace(cfg, **values)  # type: ignore[type-var]
    validate = getattr(new, "validate", None)
    if callable(validate):
        validate()
    return new


def parse_set(pairs: Sequence[str]) -> dict[str, str]:
    """`["a=1", "b=x"]` -> {"a": "1", "b": "x"}; a pair without '=' is refused by name."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def load_file(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON mapping of config keys."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {p} is not UTF-8 text (byte {exc.start}): give a YAML or JSON file") from None
    try:
        data = yaml.safe_load(text) if p.suffix.lower() in (".yaml", ".yml") else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"config file {p} is not valid {'YAML' if p.suffix in ('.yaml', '.yml') else 'JSON'}: {exc}"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping of keys to values, got {type(data).__name__}")
    return data


def build_config(default: C, file: str | Path | None = None, sets: Sequence[str] = ()) -> C:
    """defaults, then the file, then `--set` pairs (last wins)."""
    cfg = default
    if file is not None:
        cfg = apply(cfg, load_file(file))
    if sets:
        cfg = apply(cfg, parse_set(sets))
    return cfg


def to_dict(cfg: Any) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()}


MAX_UNITS = 65_536  # units of one network layer: past this a size is a typo (a 2-core budget trains 256)
INF = math.inf


def ranged(default: Any, lo: float, hi: float = INF, *, open_lo: bool = False) -> Any:
    """A config field whose value (each element, for a tuple of layer sizes) must lie in [lo, hi], or (lo, hi]
    with `open_lo`: the range stated once, next to the field, and checked by `MetaConfig.validate`."""
    return dataclasses.field(default=default, metadata={"range": (lo, hi, open_lo)})


def check_ranges(cfg: Any) -> None:
    """Refuse, by name and value, any field outside its declared range (`ranged`)."""
    for f in dataclasses.fields(cfg):
        bounds = f.metadata.get("range")
        if bounds is None:
            continue
        lo, hi, open_lo = bounds
        value = getattr(cfg, f.name)
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, bool) or not isinstance(v, int | float) or not (lo < v <= hi if open_lo else lo <= v <= hi):
                if hi == INF:
                    need = f"> {lo:g}" if open_lo else f">= {lo:g}"
                else:
                    need = f"in {'(' if open_lo else '['}{lo:g}, {hi:g}]"
                shown = value if isinstance(value, tuple) else v
                raise ConfigError(
                    f"config {f.name}={shown!r} must be {need}" + (" (each layer)" if isinstance(value, tuple) else "")
                )


@dataclasses.dataclass(frozen=True, kw_only=True)
class MetaConfig:
    """What every algorithm's config holds besides its own hyperparameters: the run's rhythm and threads.

    Attributes:
        checkpoint_every: iterations between checkpoints (and one at the end of a run).
        eval_every: iterations between held-out checks during training (0 = never), logged as
            `test_return_*` in metrics.jsonl.
        eval_tasks: held-out tasks in that check (the first ones of the test split).
        eval_episodes: episodes per trial in that check.
        threads: torch intra-op threads on CPU (0 = torch's default).
    """

    checkpoint_every: int = ranged(5, 1)
    eval_every: int = ranged(10, 0)
    eval_tasks: int = ranged(20, 0)
    eval_episodes: int = ranged(3, 1)
    threads: int = ranged(0, 0, 1024)

    def validate(self) -> None:
        """Every field within its declared range (`ranged`); subclasses add the checks across fields."""
        check_ranges(self)
