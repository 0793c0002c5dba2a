"""TaskParams: JSON round trip, range checks, and errors that name the bad value."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim_tasks import ParamSpec, TaskParamError, TaskParams, UnknownFamilyError, family_names, get_family, task_from_json


@pytest.mark.parametrize("name", family_names())
def test_json_round_trip_of_every_split_task(name):
    fam = get_family(name)
    split = fam.split(n_train=10, n_test=5)
    for task in split.train + split.test:
        again = fam.task_from_json(task.to_json())
        assert again == task


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_json_round_trip_of_arbitrary_in_range_tasks(data):
    fam = get_family(data.draw(st.sampled_from(family_names())))
    values = {}
    for p in fam.params:
        lo, hi = p.allowed
        values[p.name] = data.draw(st.integers(int(lo), int(hi)) if p.is_int else st.floats(lo, hi, allow_nan=False))
    task = fam.task(**values)
    assert task_from_json(task.to_json()) == task and fam.validate(TaskParams(fam.name, **task.values())) == task


def test_out_of_range_names_value_and_range():
    fam = get_family("planar_runner")
    with pytest.raises(TaskParamError, match=r"payload_mass=99.0 kg is outside its allowed range \[0.0, 15.0\]"):
        fam.validate(fam.default_task().replace(payload_mass=99.0))


def test_parameter_a_family_does_not_vary_is_refused():
    fam = get_family("half_cheetah_vel")
    with pytest.raises(TaskParamError, match="does not vary payload_mass"):
        fam.default_task().replace(payload_mass=1.0)
    with pytest.raises(TaskParamError, match="does not vary payload_mass"):
        fam.validate(TaskParams(fam.name, target_velocity=1.0, payload_mass=1.0))
    with pytest.raises(TaskParamError, match="does not vary payload_mass"):
        fam.task(payload_mass=1.0)
    assert fam.default_task().payload_mass == 0.0  # a shared knob it does not vary reads as nominal
    with pytest.raises(AttributeError, match="has no parameter 'goal_z'"):
        _ = fam.default_task().goal_z


def test_a_family_declares_its_own_fields():
    quad = get_family("quadruped").default_task()
    assert "terrain_seed" in quad and "roughness" in quad and "goal_z" not in quad
    arm = get_family("planar_arm").default_task()
    assert "goal_z" in arm and "roughness" not in arm and "terrain_seed" not in arm


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "malformed task JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"family": "planar_runner", "payload_mas": 1.0}', r"unknown task parameter\(s\) \['payload_mas'\]"),
        ('{"family": "planar_runner", "roughness": 0.0}', r"unknown task parameter\(s\) \['roughness'\] for family"),
        ('{"family": "quadruped", "terrain_seed": 1e400}', "terrain_seed=inf must be an integer"),
        ('{"payload_mass": 1.0}', "needs a 'family'"),
        ('{"family": "planar_runner", "payload_mass": "heavy"}', "payload_mass='heavy' must be a finite number"),
        ('{"family": "planar_runner", "action_latency": 1.5}', "action_latency=1.5 must be an integer"),
        ('{"family": "planar_runner", "payload_mass": NaN}', "must be a finite number"),
    ],
)
def test_malformed_task_json(text, match):
    with pytest.raises(TaskParamError, match=match):
        task_from_json(text)


def test_task_for_another_family_is_refused():
    task = get_family("planar_arm").default_task()
    with pytest.raises(TaskParamError, match="is for family 'planar_arm', not 'planar_runner'"):
        get_family("planar_runner").validate(task)


def test_unknown_family_lists_known_names():
    with pytest.raises(UnknownFamilyError, match=r"unknown task family 'cheeta'; known families: .*planar_runner"):
        get_family("cheeta")


def test_param_spec_refuses_intervals_outside_allowed():
    with pytest.raises(TaskParamError, match="not inside allowed"):
        ParamSpec("payload_mass", "kg", allowed=(0.0, 1.0), train=(0.0, 2.0))


def test_json_is_plain_and_sorted():
    task = get_family("quadruped").default_task()
    raw = json.loads(task.to_json())
    assert raw["family"] == "quadruped" and isinstance(raw["action_latency"], int)
