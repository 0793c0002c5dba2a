"""The typed policy manifest: the embedded policy dirs round-trip exactly, and a bad field is refused by name."""

import copy
import json
from pathlib import Path

import pytest

from deploy.manifest import PearlAdaptation, PolicyDirError, PolicyManifest, RMAAdaptation, StaticAdaptation
from tests.policy_edit import write_manifest

ASSETS = Path(__file__).resolve().parents[2] / "robot_meta" / "assets"


@pytest.mark.parametrize(("name", "kind"), [("planar_runner_pearl", PearlAdaptation), ("planar_runner_dr", StaticAdaptation)])
def test_the_embedded_manifests_load_typed_and_write_back_unchanged(name, kind):
    raw = json.loads((ASSETS / name / "manifest.json").read_text())
    m = PolicyManifest.read(ASSETS / name)
    assert isinstance(m.adaptation, kind) and m.family == "planar_runner" and m.action.dim == 6
    assert m.obs_dim == 17 == sum(s.size for s in m.observation) and m.slice("torso_velocity").start == 3
    assert m.slice("target_velocity").start == 16 and [c.name for c in m.commands] == ["target_velocity"]  # an input
    assert m.robot.reward.target == "target_velocity" and m.param("payload_mass").train == (0.0, 6.0)
    assert m.to_dict() == raw
    assert PolicyManifest.from_dict(json.loads(m.to_json())) == m


def test_the_embedded_rma_runner_reads_the_payload_from_its_extrinsics():
    m = PolicyManifest.read(ASSETS / "planar_runner_rma")
    r = m.belief_readout
    assert isinstance(m.adaptation, RMAAdaptation) and r.belief == "extrinsics" and r.param == "payload_mass"
    assert len(r.weights) == m.adaptation.extrinsics_dim and r.r2 > 0.5  # fitted at export, cross-validated
    assert r.estimate(list(r.mean)) == pytest.approx(r.bias)  # the belief at the fit's mean reads the mean payload
    e = list(r.mean)
    e[0] += r.scale[0]  # one standard deviation along e[0] moves the estimate by its weight
    assert r.estimate(e) == pytest.approx(r.bias + r.weights[0])
    with pytest.raises(PolicyDirError, match="a belief of 3 entries, the read-out takes 8"):
        r.estimate([0.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda r: r["weights"].pop(), r"mean, scale and weights must have the same length, got 8, 8, 7"),
        (lambda r: r.__setitem__("belief", "z"), r"belief_readout reads 'z', which a 'rma' adapter does not report"),
        (lambda r: r["scale"].__setitem__(1, 0.0), r"belief_readout\.scale\[1\]=0\.0 must be in \(0, 1e\+06\]"),
        (lambda r: r.__setitem__("bias", float("inf")), r"belief_readout\.bias=inf must be a finite number"),
        (
            lambda r: [r[k].pop() for k in ("mean", "scale", "weights")],
            r"belief_readout has 7 weights, adaptation\.extrinsics_dim is 8",
        ),
    ],
)
def test_a_bad_belief_readout_is_refused_by_name(mutate, match):
    raw = json.loads((ASSETS / "planar_runner_rma" / "manifest.json").read_text())
    mutate(raw["belief_readout"])
    with pytest.raises(PolicyDirError, match=match):
        PolicyManifest.from_dict(raw)


def bad(mutate):
    raw = json.loads((ASSETS / "planar_runner_pearl" / "manifest.json").read_text())
    raw = copy.deepcopy(raw)
    mutate(raw)
    return raw


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda m: m["action"]["scale"].__setitem__(2, "x"), r"manifest\.action\.scale\[2\]='x' must be a finite number"),
        (lambda m: m["action"]["scale"].__setitem__(2, float("nan")), r"action\.scale\[2\]=nan must be a finite number"),
        (lambda m: m.pop("joints"), r"manifest\.joints is missing"),
        (lambda m: m["adaptation"].__setitem__("kind", "maml2"), r"adaptation\.kind 'maml2' is not one this runtime runs"),
        (lambda m: m["adaptation"].__setitem__("window", 6.5), r"adaptation\.window=6\.5 must be an integer"),
        (lambda m: m.__setitem__("ctrl_dt", 0.0), r"ctrl_dt=0\.0 must be a control period"),
        (lambda m: m.__setitem__("obs_dim", 18), r"obs_dim=18 is not the sum of the observation slices' sizes"),
        (lambda m: m["action"]["offset"].pop(), r"action\.offset has 5 entries, action\.names 6"),
        (lambda m: m["robot"]["command"].__setitem__("mode", "velocity"), r"robot\.command\.mode='velocity' must be one of"),
        (lambda m: m.__setitem__("format_version", 2), r"format_version 2 is newer than this runtime supports"),
    ],
)
def test_a_bad_field_is_refused_by_name(mutate, match):
    with pytest.raises(PolicyDirError, match=match):
        PolicyManifest.from_dict(bad(mutate))


def test_a_manifest_that_is_not_an_object_or_not_json_is_refused(tmp_path):
    with pytest.raises(PolicyDirError, match="a manifest is a JSON object, got list"):
        PolicyManifest.from_dict([1, 2])
    write_manifest(tmp_path, "{oops")
    with pytest.raises(PolicyDirError, match="is not valid JSON"):
        PolicyManifest.read(tmp_path)
    write_manifest(tmp_path, bad(lambda m: m.pop("graphs")))
    with pytest.raises(PolicyDirError, match=r"manifest\.json: manifest\.graphs is missing"):
        PolicyManifest.read(tmp_path)
