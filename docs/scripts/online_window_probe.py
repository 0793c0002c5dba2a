"""PEARL's online posterior vs its prior over long runs, for several window lengths (a measurement, not a test).

Each run: 24 s of the planar runner at a target speed, a 9 kg payload added at 8 s; tracking error over the
5 s before the change ("pre") and after it ("post"), averaged over targets 1.0/1.5/2.0/2.5 m/s and 2 seeds.
Usage: python docs/scripts/online_window_probe.py POLICY_DIR
"""

import dataclasses
import sys
from pathlib import Path

import numpy as np

from deploy.runtime import PearlAdapter, SafetyFilter, read_manifest
from sim_tasks import TaskSim, get_family

fam = get_family("planar_runner")
P = Path(sys.argv[1])


def make(window, prior=False):
    m = read_manifest(P)
    m = dataclasses.replace(m, adaptation=dataclasses.replace(m.adaptation, window=window))
    ad = PearlAdapter(P, m, safety=SafetyFilter(6, max_delta=2.0))
    ad.use_prior = prior
    return ad


def run(ad, v, kg, seed, T=24.0, tc=8.0):
    task = fam.task(target_velocity=v)
    sim = TaskSim(fam, task)
    obs = sim.reset(np.random.default_rng(seed))
    ad.reset()
    r = 0.0
    errs = []
    for k in range(int(T / fam.ctrl_dt)):
        if k == int(tc / fam.ctrl_dt):
            sim.set_payload(kg)
        a = ad.act(obs, r)
        obs, r, _te, _tr, info = sim.step(a)
        errs.append(info["tracking_error"])
    e = np.array(errs)
    c = int(tc / fam.ctrl_dt)
    return e[c - 100 : c].mean(), e[c:].mean()


for name, mk in (
    ("prior", lambda: make(64, True)),
    ("w16", lambda: make(16)),
    ("w64", lambda: make(64)),
    ("w200", lambda: make(200)),
):
    res = np.array([[run(mk(), v, 9.0, s) for s in range(2)] for v in (1.0, 1.5, 2.0, 2.5)])
    print(name, "pre", res[..., 0].mean().round(3), "post", res[..., 1].mean().round(3), flush=True)
