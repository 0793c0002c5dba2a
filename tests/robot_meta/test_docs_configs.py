"""The config files in docs/configs apply to their algorithm's config (a renamed or retyped key would be
refused by name, so a documented command would fail)."""

from pathlib import Path

import pytest

from robot_meta.config import build_config
from robot_meta.pearl.pearl import PearlConfig
from robot_meta.rl2.rl2 import RL2Config
from robot_meta.rma.rma import RMAConfig

CONFIGS = sorted((Path(__file__).parents[2] / "docs" / "configs").glob("*.yaml"))
DEFAULTS = {"pearl": PearlConfig(), "rl2": RL2Config(), "rma": RMAConfig()}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_documented_config_applies(path):
    algo = path.name.split("_")[0]
    assert algo in DEFAULTS, f"{path.name}: name it <algo>_..., algo one of {sorted(DEFAULTS)}"
    cfg = build_config(DEFAULTS[algo], path)
    cfg.validate()
    assert cfg != DEFAULTS[algo]  # the file changes something
