"""Forward kinematics on the robot computer (issue 18): the manifest's chain, read from the compiled MuJoCo
model at export, placed in numpy by `deploy.kinematics`, agrees with MuJoCo's own `site_xpos`."""

from pathlib import Path

import mujoco
import numpy as np
import pytest

from deploy.kinematics import ForwardKinematics
from deploy.manifest import KinematicChain, PolicyDirError, PolicyManifest, _load
from robot_meta.export import kinematic_chain
from sim_tasks import get_family

ARM7 = Path(__file__).parent / "models" / "arm7.xml"
N_CONFIGS = 10_000


def _chain(model, site) -> KinematicChain:
    return _load(KinematicChain, kinematic_chain(model, site), "kinematics")


def _max_error(model, site: str, rng: np.random.Generator, n: int) -> float:
    data = mujoco.MjData(model)
    joints = [model.joint(int(model.actuator_trnid[i, 0])).name for i in range(model.nu)]
    fk = ForwardKinematics(_chain(model, site), joints)
    qadr = [int(model.jnt_qposadr[model.joint(j).id]) for j in joints]
    lo = np.array([model.jnt_range[model.joint(j).id][0] for j in joints])
    hi = np.array([model.jnt_range[model.joint(j).id][1] for j in joints])
    worst = 0.0
    for _ in range(n):
        q = rng.uniform(lo - 0.5, hi + 0.5)  # past the limits too: kinematics does not care
        data.qpos[qadr] = q
        mujoco.mj_kinematics(model, data)
        worst = max(worst, float(np.abs(fk(q) - data.site_xpos[model.site(site).id]).max()))
    return worst


@pytest.mark.parametrize("case", ["planar_arm", "arm7"])
def test_forward_kinematics_agrees_with_mujoco(case):
    if case == "planar_arm":
        fam = get_family("planar_arm")
        model, site = fam.build_model(fam.default_task()), "ee"
    else:
        model, site = mujoco.MjModel.from_xml_path(str(ARM7)), "tool"
    worst = _max_error(model, site, np.random.default_rng(0), N_CONFIGS)
    assert worst < 1e-9, worst


def test_a_chain_whose_joint_the_robot_lacks_is_refused_by_name():
    model = mujoco.MjModel.from_xml_path(str(ARM7))
    chain = _chain(model, "tool")
    with pytest.raises(PolicyDirError, match=r"joint 'j5' of body 'slider' is not one of the robot's joints"):
        ForwardKinematics(chain, ["j1", "j2", "j3", "j4", "j6", "j7"])


def test_the_arm_manifest_carries_its_chain(tmp_path):
    """The planar arm's export: a `kinematics.ee` chain of its three hinges, the ee_pos slice placed by it."""
    from robot_meta.export import build_manifest

    fam = get_family("planar_arm")
    raw = build_manifest({"kind": "none", "note": "DR"}, {"algo": "dr", "seed": 0}, {}, fam, {})
    chain = raw["kinematics"]["ee"]
    assert [j["name"] for link in chain["links"] for j in link["joints"]] == ["shoulder", "elbow", "wrist"]
    assert raw["robot"]["observation"]["ee_pos"]["signal"] == "site_pos"
    raw["kinematics"]["ee"]["links"][1]["joints"][0]["name"] = "knee"
    with pytest.raises(PolicyDirError, match=r"joint 'knee' of body 'forearm' is not one of the policy's joints"):
        PolicyManifest.from_dict({**raw, "parity": None, "graphs": {}, "opset": 18})
