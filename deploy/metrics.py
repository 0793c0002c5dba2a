"""Online-adaptation metrics shared by the robot's field sessions and the simulated evaluation protocol.

They live on the robot computer's layer because a field report is computed there, from the session's own
logs; `robot_meta.evaluation` applies the same definitions to simulated episodes, so a number in a field
report and the same number in `robot-meta eval` mean the same thing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RECOVERY_TOLERANCE = 0.10  # recovered = smoothed error within 10% of the pre-change error
SMOOTH_S = 0.5  # s, moving-average window over the post-change error
PRE_WINDOW_S = 2.0  # s, window before the change that defines the pre-change error


def pre_change_window_s(change_s: float) -> float:
    """The window before a change that defines the pre-change error: `PRE_WINDOW_S`, at most the second half
    of the time before the change.

    An episode starts with the approach from its start state (the arm's reach takes most of a second), not
    with the steady tracking that recovery is measured against; a window that reached into the approach would
    inflate the pre-change error and hide the post-change rise inside the recovery band (docs/rl2.md).
    """
    return min(PRE_WINDOW_S, 0.5 * change_s)


def recovery_stats(
    errors: np.ndarray,
    change_step: int,
    ctrl_dt: float,
    pre_window_s: float | None = None,
    smooth_s: float = SMOOTH_S,
) -> dict[str, Any]:
    """Per-task pre-change error, post-change mean and peak error, and recovery time (s, None if never).

    Pre-change error: mean over the `pre_window_s` before the change (None: `pre_change_window_s` of the
    change time, the protocol's window). Recovery: the time from the change to
    the first moment the `smooth_s` moving average of the error is back within `RECOVERY_TOLERANCE` of it
    after having left that band (0 when it never left it; None when it never came back). The
    simulated protocol averages over many tasks and keeps the defaults; a field test (one robot, one run)
    takes its whole baseline period and a longer smoothing window.
    """
    if pre_window_s is None:
        pre_window_s = pre_change_window_s(change_step * ctrl_dt)
    pre_n = max(1, min(change_step, round(pre_window_s / ctrl_dt)))
    k = max(1, round(smooth_s / ctrl_dt))
    pre = errors[:, change_step - pre_n : change_step].mean(1)
    post = errors[:, change_step:]
    kernel = np.ones(k) / k
    recovery: list[float | None] = []
    for i in range(len(errors)):
        smooth = np.convolve(post[i], kernel, mode="valid")
        band = (1 + RECOVERY_TOLERANCE) * pre[i]
        above = np.flatnonzero(smooth > band)
        if above.size == 0:  # never left the band: nothing to recover from
            recovery.append(0.0)
            continue
        # Counted from the change to the first return into the band after the error has left it (an error
        # that rises a second after the change is not "recovered at 0 s" because it had not risen yet).
        back = np.flatnonzero(smooth[above[0] :] <= band)
        recovery.append(float((above[0] + back[0]) * ctrl_dt) if back.size else None)
    return {
        "pre_error": pre.tolist(),
        "post_error": post.mean(1).tolist(),
        "peak_error": post.max(1).tolist(),
        "recovery_time_s": recovery,
    }


def summarize(values: np.ndarray) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": float("nan"), "std": float("nan"), "median": float("nan"), "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std()), "median": float(np.median(v)), "n": int(v.size)}
