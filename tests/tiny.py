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
