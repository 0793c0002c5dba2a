"""Online-adaptation metrics shared by the robot's field sessions and the simulated evaluation protocol.

They live on the robot computer's layer because a field report is computed there, from the session's own
logs; `robot_meta.evaluation` and sim2sim apply the same definitions to simulated episodes, so a number in a
field report and the same number in `robot-meta eval` mean the same thing.

Two numbers judge online adaptation, and neither ranks the less accurate policy as the faster one:
- `adaptation_time`: how fast the error settles at the same policy's steady error on the new payload;
- `excess_over`: how much error the policy makes beyond the oracle's on the same task and starts.
`change_stats` (pre, post and peak error) describes a change and ranks nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ADAPTATION_TOLERANCE = 0.10  # adapted = smoothed error within 10% (plus the family's floor) of the steady error
SMOOTH_S = 0.5  # s, forward moving average over the post-change error
SETTLE_S = 1.0  # s, how long the smoothed error must stay in the band to count as adapted
PRE_WINDOW_S = 2.0  # s, window before the change that defines the pre-change error
EXCESS_WINDOW_S = 2.0  # s after the change over which the excess over the oracle is integrated


def pre_change_window_s(change_s: float) -> float:
    """The window before a change that defines the pre-change error: `PRE_WINDOW_S`, at most the second half
    of the time before the change.

    An episode starts with the approach from its start state (the arm's reach takes most of a second), not
    with the steady tracking that recovery is measured against; a window that reached into the approach would
    inflate the pre-change error and hide the post-change rise inside the recovery band (docs/rl2.md).
    """
    return min(PRE_WINDOW_S, 0.5 * change_s)


def change_stats(errors: np.ndarray, change_step: int, ctrl_dt: float, pre_window_s: float | None = None) -> dict[str, Any]:
    """Description of a payload change, per row of `errors` (runs, steps): the mean error over the
    `pre_window_s` before the change (None: the protocol's `pre_change_window_s`), and the mean and peak
    error after it. Not a ranking: a policy's own pre-change error says how accurate it was, not how fast
    it adapted."""
    if pre_window_s is None:
        pre_window_s = pre_change_window_s(change_step * ctrl_dt)
    pre_n = max(1, min(change_step, round(pre_window_s / ctrl_dt)))
    post = errors[:, change_step:]
    return {
        "pre_error": errors[:, change_step - pre_n : change_step].mean(1).tolist(),
        "post_error": post.mean(1).tolist(),
        "peak_error": post.max(1).tolist(),
    }


def adaptation_time(
    errors: np.ndarray,
    change_step: int,
    ctrl_dt: float,
    steady: np.ndarray,
    floor: float,
    smooth_s: float = SMOOTH_S,
    settle_s: float = SETTLE_S,
    tolerance: float = ADAPTATION_TOLERANCE,
) -> list[float | None]:
    """Per row: seconds from the change until the error has settled at the same policy's steady error on the
    new payload; None when it never does within the run.

    Settled: the `smooth_s` forward moving average of the error is within `(1 + tolerance) * steady + floor`
    and stays there for `settle_s` (or to the end of the run). `steady` (rows,) is the policy's own error with
    that payload, from runs that start with it (simulation) or from the end of the hold (field), so the band is
    each policy's own accuracy: a less accurate policy gets a wider band, not a head start, and an error that
    has not risen yet is not counted as adapted. `floor` (the tracking error's unit) keeps the band from
    collapsing for a near-perfect policy.
    """
    k = max(1, round(smooth_s / ctrl_dt))
    m = max(1, round(settle_s / ctrl_dt))
    kernel = np.ones(k) / k
    out: list[float | None] = []
    for i in range(len(errors)):
        smooth = np.convolve(errors[i, change_step:], kernel, mode="valid")
        inside = smooth <= (1 + tolerance) * float(steady[i]) + floor
        # j settles when windows j .. min(j + m, end) - 1 are all inside: a sliding count of inside windows
        n = len(inside)
        counts = np.concatenate([[0], np.cumsum(inside)])
        ends = np.minimum(np.arange(n) + m, n)
        stays = np.flatnonzero(counts[ends] - counts[:n] == ends - np.arange(n))
        out.append(float(stays[0] * ctrl_dt) if stays.size else None)
    return out


def steady_error(errors: np.ndarray, change_step: int) -> np.ndarray:
    """Per row, the mean error from `change_step` to the end of runs that started with the new payload: the
    reference an adaptation time is measured against."""
    return errors[:, change_step:].mean(1)


def excess_over(
    errors: np.ndarray, reference: np.ndarray, change_step: int, ctrl_dt: float, window_s: float = EXCESS_WINDOW_S
) -> dict[str, list[float]]:
    """Per row, the error in excess of a reference policy's (the oracle's) on the same task and starts:
    integrated over the first `window_s` after the change (error unit x s) and averaged after it (error unit).
    It measures how good the adaptation is, where `adaptation_time` measures how fast. When less than twice
    `window_s` follows the change (the arm's 3 s episodes change at 1.5 s), the window is the first half of
    what follows, so that the steady part is never empty."""
    n = max(1, min(round(window_s / ctrl_dt), (errors.shape[1] - change_step) // 2))
    diff = errors[:, change_step:] - reference[:, change_step:]
    return {"excess_first": (diff[:, :n].sum(1) * ctrl_dt).tolist(), "excess_steady": diff[:, n:].mean(1).tolist()}


SETTLE_BAND = 0.2  # a payload estimate has settled once it stays within 20% of the new payload (issue 16)


def trailing_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Mean of the last `k` values at each step, (T,) -> (T,): what a robot can compute as it goes (the first
    k - 1 steps average what there is)."""
    c = np.cumsum(np.concatenate([[0.0], np.asarray(x, dtype=float)]))
    idx = np.arange(1, len(x) + 1)
    n = np.minimum(idx, k)
    return (c[1:] - c[idx - n]) / n


def settle_times(
    estimates: np.ndarray, payloads: list[float], change_time_s: float, dt: float, smooth_s: float = SMOOTH_S
) -> list[float]:
    """Per run (rows of `estimates`, (runs, steps), kg), the time from the change until the estimate's trailing
    mean over `smooth_s` (what a robot can compute as it goes) stays within `SETTLE_BAND` x the new payload of it
    to the last step; NaN if it is outside at the last step.

    Why a mean: the read-out is fitted on beliefs averaged over half an episode, and a recurrent state swings
    with the gait (RL²'s per-tick estimate on the runner moves by +-10 kg within a stride) while its mean holds
    the payload. `smooth_s` 0 reads each step as it is."""
    start = round(change_time_s / dt)
    k = max(1, round(smooth_s / dt))
    out = []
    for est, m in zip(estimates, payloads, strict=True):
        inside = np.abs(trailing_mean(est, k)[start:] - m) <= SETTLE_BAND * abs(m)
        if not inside[-1]:
            out.append(float("nan"))
            continue
        outside = np.flatnonzero(~inside)
        out.append(float((outside[-1] + 1) * dt) if outside.size else 0.0)
    return out


def interval_text(ci: list[float | None]) -> str:
    """A median adaptation time's interval as reports print it, `[0.35, 1.05]`; an open end (None: some
    resamples never settled) reads `never`."""
    return "[" + ", ".join("never" if x is None else f"{x:.2f}" for x in ci) + "]"


def summarize(values: np.ndarray) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": float("nan"), "std": float("nan"), "median": float("nan"), "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std()), "median": float(np.median(v)), "n": int(v.size)}
