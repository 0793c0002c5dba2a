"""Tiny training configs shared by the tests: mechanics only, seconds of CPU."""

PEARL_SETS = (
    "initial_steps=30",
    "steps_prior=30",
    "steps_posterior=30",
    "updates_per_iteration=3",
    "tasks_per_iteration=2",
    "hidden=16",
    "encoder_hidden=16",
    "meta_batch=2",
    "batch_size=8",
    "context_batch=6",
    "eval_every=0",
    "window=8",
)
RL2_SETS = ("num_envs=2", "minibatches=2", "hidden=16", "embed=8", "epochs=1", "eval_every=0")
MAML_SETS = ("hidden=[8]", "meta_batch=2", "outer_epochs=2", "eval_every=0")
RMA_SETS = (
    "num_envs=2",
    "rollout_steps=40",
    "hidden=[16]",
    "encoder_hidden=[8]",
    "extrinsics_dim=3",
    "history=6",
    "adapter_embed=4",
    "adapter_hidden=[8]",
    "teacher_iterations=1",
    "epochs=1",
    "minibatches=2",
    "student_epochs=1",
    "eval_every=0",
)

# One tiny config per registered algorithm: the contract test (tests/robot_meta/test_algorithm_contract.py)
# runs every algorithm of robot_meta.registry with it, and fails for an algorithm that has none here.
TINY_SETS = {"pearl": PEARL_SETS, "rl2": RL2_SETS, "maml": MAML_SETS, "rma": RMA_SETS}
