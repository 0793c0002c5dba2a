"""The policy manifest: the typed contract between export (training side) and the robot computer.

`manifest.json` in a policy dir is a `PolicyManifest` written as JSON. Export builds one from the trained
algorithm and the task family; the runtime, the control loop, field sessions, sim2sim and the demo read its
attributes, never string keys. `PolicyManifest.from_dict` checks every field's type on the way in and names
the bad one (`action.scale[2]`), so a hand-edited or truncated manifest is refused before anything runs.

Format versions: `FORMAT_VERSION` is what this code writes; a manifest with a newer version is refused with
a message saying to update the robot computer. Version 1 is the layout export has written since the first
policy dirs (the embedded assets included); its JSON and these dataclasses map one to one.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import operator
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

FORMAT_VERSION = 1

Batch = int | Literal["batch"]  # a graph dimension: fixed, or the dynamic batch


class PolicyDirError(ValueError):
    """The policy dir cannot be run: missing or corrupt file, newer format, or a manifest/graph mismatch."""


OMIT_NONE = {"omit_none": True}  # field metadata: left out of the JSON when None (as format 1 writes it)
MAX_MAGNITUDE = 1e6  # no scale, offset, limit or gain of a real actuator is this large: a corrupted value
MAX_MANIFEST_BYTES = 16 << 20  # a manifest is a few kilobytes
MAX_CONTEXT = 100_000  # steps or units of a window, history or hidden state: past this a manifest is corrupt


def _check_range(name: str, value: float, lo: float, hi: float, lo_open: bool = False) -> None:
    """Refuse `value` outside [lo, hi] (or (lo, hi]) by name: a hand-edited or corrupted manifest."""
    if not (lo < value <= hi if lo_open else lo <= value <= hi):
        raise PolicyDirError(f"{name}={value!r} must be in {'(' if lo_open else '['}{lo:g}, {hi:g}]")


@dataclass(frozen=True)
class ObsSliceSpec:
    """One named slice of the observation: entries [start, start + size), in `unit`, from `source`, with the
    nominal noise std the simulator adds at `obs_noise` = 1."""

    name: str
    start: int
    size: int
    unit: str
    noise: float
    source: str


@dataclass(frozen=True)
class ActionSpec:
    """Normalized action a in [-1, 1]^n -> actuator ctrl = clip(offset + scale * a, ctrl_low, ctrl_high)."""

    names: tuple[str, ...]
    unit: str
    scale: tuple[float, ...]
    offset: tuple[float, ...]
    ctrl_low: tuple[float, ...]
    ctrl_high: tuple[float, ...]
    clip: tuple[float, float] = (-1.0, 1.0)

    def __post_init__(self) -> None:
        for name in ("scale", "offset", "ctrl_low", "ctrl_high"):
            for i, v in enumerate(getattr(self, name)):
                _check_range(f"action.{name}[{i}]", v, -MAX_MAGNITUDE, MAX_MAGNITUDE)
        for i, v in enumerate(self.scale):
            _check_range(f"action.scale[{i}]", v, 0.0, MAX_MAGNITUDE, lo_open=True)
        for i, (lo, hi) in enumerate(zip(self.ctrl_low, self.ctrl_high, strict=False)):
            if not lo < hi:
                raise PolicyDirError(f"action.ctrl_low[{i}]={lo} must be below action.ctrl_high[{i}]={hi}")
        if not -1.0 <= self.clip[0] < self.clip[1] <= 1.0:
            raise PolicyDirError(f"action.clip={list(self.clip)} must be an interval inside [-1, 1]")

    @property
    def dim(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class JointSpec:
    """Per actuator, in action order: its joint, position limits (rad or m; None: unlimited), force range."""

    actuator: str
    joint: str
    position_limits: tuple[float, float] | None
    force_limits: tuple[float, float] | None


@dataclass(frozen=True)
class RobotSignal:
    """How a robot computer fills an observation slice from STATE: `signal` (deploy.robot_io.SIGNALS, or
    "site_pos": the world position of `site` by forward kinematics of the manifest's chain), the entries it
    keeps (`index`, None: all) and an offset added to them."""

    signal: str
    index: tuple[int, ...] | None = field(default=None, metadata=OMIT_NONE)
    offset: tuple[float, ...] | None = field(default=None, metadata=OMIT_NONE)
    site: str | None = field(default=None, metadata=OMIT_NONE)  # signal "site_pos": the manifest's chain to it


@dataclass(frozen=True)
class ChainJoint:
    """One joint of a kinematic chain: its robot name, type, axis and anchor in its body's frame, and the
    reference position at which the body sits at its `pos`/`quat` (MuJoCo's qpos0)."""

    name: str
    type: Literal["hinge", "slide"]
    axis: tuple[float, float, float]
    anchor: tuple[float, float, float]  # m
    qpos0: float  # rad (hinge) or m (slide)

    def __post_init__(self) -> None:
        for i, v in enumerate((*self.axis, *self.anchor, self.qpos0)):
            _check_range(f"joint {self.name!r} axis/anchor/qpos0[{i}]", v, -MAX_MAGNITUDE, MAX_MAGNITUDE)
        if math.hypot(*self.axis) < 1e-9:
            raise PolicyDirError(f"joint {self.name!r} axis={list(self.axis)} has no direction")


@dataclass(frozen=True)
class ChainLink:
    """One body of a chain: its offset from its parent body (position, m; orientation, unit quaternion w, x,
    y, z) and its joints, in MuJoCo's order."""

    body: str
    pos: tuple[float, float, float]
    quat: tuple[float, float, float, float]
    joints: tuple[ChainJoint, ...]

    def __post_init__(self) -> None:
        for i, v in enumerate((*self.pos, *self.quat)):
            _check_range(f"body {self.body!r} pos/quat[{i}]", v, -MAX_MAGNITUDE, MAX_MAGNITUDE)
        if abs(math.hypot(*self.quat) - 1.0) > 1e-6:
            raise PolicyDirError(f"body {self.body!r} quat={list(self.quat)} is not a unit quaternion")


@dataclass(frozen=True)
class KinematicChain:
    """The bodies from the world to a site, and the site's position in its body's frame (m): what
    `deploy.kinematics.ForwardKinematics` needs to place the site from the joint encoders."""

    site: str
    links: tuple[ChainLink, ...]
    site_pos: tuple[float, float, float]

    def require_joints(self, names: typing.Collection[str], whose: str) -> None:
        """Refuse the chain, naming the joint and its body, if one of its joints is not in `names`."""
        for link in self.links:
            for j in link.joints:
                if j.name not in names:
                    raise PolicyDirError(
                        f"kinematics.{self.site}: joint {j.name!r} of body {link.body!r} is not one of {whose} joints "
                        f"{sorted(names)}"
                    )

    def __post_init__(self) -> None:
        if not self.links or len(self.links) > 64:
            raise PolicyDirError(f"kinematics.{self.site}: a chain has 1 to 64 bodies, got {len(self.links)}")
        for i, v in enumerate(self.site_pos):
            _check_range(f"kinematics.{self.site}.site_pos[{i}]", v, -MAX_MAGNITUDE, MAX_MAGNITUDE)


@dataclass(frozen=True)
class SignalCost:
    """A quadratic term of the reward on a robot signal: weight * sum(signal[index]^2), from STATE as an
    observation slice is (`deploy.robot_io.SIGNALS`), in the signal's units: the runner's gait penalties on
    its torso's vertical speed (velocity_world z, m/s) and pitch rate (gyro y, rad/s)."""

    signal: str
    index: tuple[int, ...]
    weight: float

    def __post_init__(self) -> None:
        _check_range(f"signal_cost {self.signal!r} weight", self.weight, 0.0, MAX_MAGNITUDE)
        for i in self.index:
            _check_range(f"signal_cost {self.signal!r} index", i, 0, 63)


@dataclass(frozen=True)
class RobotReward:
    """The reward an adapter needs, computed robot-side from the observation, the commands and STATE:

    - `velocity_tracking`: -|obs[slice] - target| - action_cost |a|^2 (a speed to hold; `target` one command);
    - `position_tracking`: -||obs[slice] - (targets)|| - action_cost |a|^2 - velocity_cost |obs[velocity_slice]|^2
      (a point to reach, e.g. a gripper tip's (x, z); `target` the commands of its coordinates, in order);
    - either, minus each `signal_cost` term (`SignalCost`) when the family's reward has them.
    """

    kind: Literal["velocity_tracking", "position_tracking"]
    slice: str
    target: str | tuple[str, ...]
    action_cost: float
    velocity_cost: float | None = field(default=None, metadata=OMIT_NONE)
    velocity_slice: str | None = field(default=None, metadata=OMIT_NONE)
    signal_cost: tuple[SignalCost, ...] | None = field(default=None, metadata=OMIT_NONE)

    @property
    def targets(self) -> tuple[str, ...]:
        """The commands the reward tracks, as a tuple."""
        return (self.target,) if isinstance(self.target, str) else tuple(self.target)


@dataclass(frozen=True)
class CommandSpec:
    """Normalized action -> COMMAND: torque mode target = ctrl * target_per_ctrl (N m); position mode target =
    ctrl (rad) with gains kp, kd; `hold_target` is held during soft start and e-stop."""

    mode: Literal["torque", "position"]
    target_per_ctrl: tuple[float, ...]
    kp: tuple[float, ...]
    kd: tuple[float, ...]
    hold_target: tuple[float, ...]

    def __post_init__(self) -> None:
        for name in ("kp", "kd"):
            for i, v in enumerate(getattr(self, name)):
                _check_range(f"robot.command.{name}[{i}]", v, 0.0, MAX_MAGNITUDE)
        for name in ("target_per_ctrl", "hold_target"):
            for i, v in enumerate(getattr(self, name)):
                _check_range(f"robot.command.{name}[{i}]", v, -MAX_MAGNITUDE, MAX_MAGNITUDE)


@dataclass(frozen=True)
class SafetySpec:
    max_tilt_deg: float  # deg, the control loop e-stops beyond this tilt from upright

    def __post_init__(self) -> None:
        _check_range("robot.safety.max_tilt_deg", self.max_tilt_deg, 0.0, 180.0, lo_open=True)


@dataclass(frozen=True)
class RobotSpec:
    """What the robot computer needs beyond the graphs: STATE -> observation, the reward, action -> COMMAND."""

    observation: dict[str, RobotSignal]
    reward: RobotReward | None
    command: CommandSpec
    rate_hz: int
    safety: SafetySpec

    def __post_init__(self) -> None:
        _check_range("robot.rate_hz", self.rate_hz, 0, 10_000, lo_open=True)


@dataclass(frozen=True)
class TransitionPart:
    name: str
    size: int
    zeroed: bool | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True)
class PearlAdaptation:
    """PEARL online: z = mean of the product of the last `window` transitions' Gaussian factors."""

    kind: Literal["pearl"]
    latent_dim: int
    window: int
    infer_every: int
    transition: tuple[TransitionPart, ...]
    posterior: str
    min_var: float

    def __post_init__(self) -> None:
        for name in ("latent_dim", "window", "infer_every"):
            _check_range(f"adaptation.{name}", getattr(self, name), 1, MAX_CONTEXT)
        _check_range("adaptation.min_var", self.min_var, 0.0, MAX_MAGNITUDE)


@dataclass(frozen=True)
class RL2Adaptation:
    """RL² online: the recurrent step with explicit state (`inputs` of the step graph)."""

    kind: Literal["rl2"]
    hidden_size: int
    inputs: tuple[str, ...]
    episodes_per_trial: int
    reset: str

    def __post_init__(self) -> None:
        _check_range("adaptation.hidden_size", self.hidden_size, 1, MAX_CONTEXT)
        _check_range("adaptation.episodes_per_trial", self.episodes_per_trial, 1, MAX_CONTEXT)


@dataclass(frozen=True)
class StaticAdaptation:
    """A policy that does not adapt on the robot (obs -> action): the domain-randomized baseline, or a MAML
    policy with fixed parameters (`maml` says which)."""

    kind: Literal["none"]
    note: str
    maml: dict[str, Any] | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True)
class RMAAdaptation:
    """RMA online: the policy graph reads the last `history` [observation, action] rows (`history_rows` says
    how the runtime keeps them) and returns the action and its extrinsics estimate."""

    kind: Literal["rma"]
    history: int
    extrinsics_dim: int
    inputs: tuple[str, ...]
    history_rows: str

    def __post_init__(self) -> None:
        _check_range("adaptation.history", self.history, 1, MAX_CONTEXT)
        _check_range("adaptation.extrinsics_dim", self.extrinsics_dim, 1, MAX_CONTEXT)


Adaptation = PearlAdaptation | RL2Adaptation | RMAAdaptation | StaticAdaptation
ADAPTATIONS: dict[str, type] = {
    "pearl": PearlAdaptation,
    "rl2": RL2Adaptation,
    "rma": RMAAdaptation,
    "none": StaticAdaptation,
}


@dataclass(frozen=True)
class BeliefReadout:
    """A linear read-out of one hidden task parameter from the adapter's belief vector (PEARL's posterior mean
    `z`, RMA's extrinsics estimate `extrinsics`, RL²'s hidden state `h`), fitted by export on training tasks in simulation: ridge
    regression on standardized features, so estimate = bias + sum(weights * (belief - mean) / scale), in
    `unit`. A display of what the belief says (the field report plots it), never an input of the policy; past
    the training range it extrapolates linearly. `r2` is its cross-validated R² on those tasks (folds by task)."""

    param: str
    unit: str
    belief: Literal["z", "extrinsics", "h"]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    r2: float
    tasks: int

    def __post_init__(self) -> None:
        n = len(self.weights)
        if not 1 <= n <= MAX_CONTEXT or len(self.mean) != n or len(self.scale) != n:
            raise PolicyDirError(
                f"belief_readout: mean, scale and weights must have the same length, got {len(self.mean)}, "
                f"{len(self.scale)}, {n}"
            )
        for i, s in enumerate(self.scale):
            _check_range(f"belief_readout.scale[{i}]", s, 0.0, MAX_MAGNITUDE, lo_open=True)

    @functools.cached_property
    def _affine(self) -> tuple[tuple[float, ...], float]:
        """(coefficients, offset) with estimate = offset + sum(coefficients * belief): folded once, as the
        control loop reads a 256-wide RL² state each tick (45 µs a tick unfolded, a 1 kHz loop's budget)."""
        coef = tuple(w / s for w, s in zip(self.weights, self.scale, strict=True))
        return coef, self.bias - sum(c * m for c, m in zip(coef, self.mean, strict=True))

    def estimate(self, belief: list[float] | tuple[float, ...]) -> float:
        """The parameter's estimate from one belief vector (its length is checked against the weights)."""
        if len(belief) != len(self.weights):
            raise PolicyDirError(f"belief_readout: a belief of {len(belief)} entries, the read-out takes {len(self.weights)}")
        coef, offset = self._affine
        return offset + sum(map(operator.mul, coef, belief))


@dataclass(frozen=True)
class TaskParamRange:
    """A task parameter the policy was trained over; role "command" is set by the operator at run time
    (manifests written before roles existed have none: hidden)."""

    name: str
    unit: str
    allowed: tuple[float, float]
    train: tuple[float, float]
    test_only: tuple[tuple[float, float], ...]
    role: Literal["hidden", "command"] | None = field(default=None, metadata=OMIT_NONE)  # None: hidden

    def __post_init__(self) -> None:
        for label, (lo, hi) in (("allowed", self.allowed), ("train", self.train), *(("test_only", r) for r in self.test_only)):
            if not lo <= hi:
                raise PolicyDirError(f"task_params {self.name!r}: {label} range [{lo}, {hi}] is reversed")


@dataclass(frozen=True)
class GraphIO:
    name: str
    shape: tuple[Batch, ...]


@dataclass(frozen=True)
class GraphFile:
    """One ONNX graph of the policy dir, its sha256 and its named inputs and outputs."""

    file: str
    sha256: str
    inputs: tuple[GraphIO, ...]
    outputs: tuple[GraphIO, ...]


@dataclass(frozen=True)
class Parity:
    """onnxruntime vs torch on a recorded rollout at export: max abs difference per output (relative for
    variances), the tolerance, and how many steps were compared."""

    max_abs_diff: dict[str, float]
    tolerance: float
    steps: int


@dataclass(frozen=True)
class PolicyManifest:
    """Everything the runtime and the robot need about a policy dir, and the checks they make."""

    format_version: int
    project_version: str
    git_sha: str
    algo: str
    family: str
    env_id: str
    trained: dict[str, Any]
    ctrl_dt: float  # s, one control period
    sim_dt: float  # s, the training simulator's physics step
    observation: tuple[ObsSliceSpec, ...]
    obs_dim: int
    action: ActionSpec
    joints: tuple[JointSpec, ...]
    reward: dict[str, str]
    robot: RobotSpec | None
    adaptation: Adaptation
    task_params: tuple[TaskParamRange, ...]
    opset: int
    graphs: dict[str, GraphFile]
    parity: Parity | None = field(default=None, metadata=OMIT_NONE)
    # The absolute floor of the adaptation band, in the tracking error's unit (deploy.metrics.adaptation_time);
    # manifests written before it existed have none.
    tracking_error_floor: float | None = field(default=None, metadata=OMIT_NONE)
    # Chains from the world to the sites the robot side places by forward kinematics (an arm's gripper tip),
    # by site name; manifests of families without one have none.
    kinematics: dict[str, KinematicChain] | None = field(default=None, metadata=OMIT_NONE)
    # The family's default field test (deploy.field.FieldPlan's fields), for `robot-meta field` without a plan.
    field_plan: dict[str, Any] | None = field(default=None, metadata=OMIT_NONE)
    # A linear read-out of the payload from the belief (adaptive policies with a belief vector, on families with
    # a payload), for the field report; manifests written before it, and the other policies, have none.
    belief_readout: BeliefReadout | None = field(default=None, metadata=OMIT_NONE)

    def __post_init__(self) -> None:
        if self.obs_dim != sum(s.size for s in self.observation):
            raise PolicyDirError(f"manifest obs_dim={self.obs_dim} is not the sum of the observation slices' sizes")
        n = self.action.dim
        for name in ("scale", "offset", "ctrl_low", "ctrl_high"):
            if len(getattr(self.action, name)) != n:
                raise PolicyDirError(f"manifest action.{name} has {len(getattr(self.action, name))} entries, action.names {n}")
        if not (math.isfinite(self.ctrl_dt) and 0 < self.ctrl_dt <= 10.0):
            raise PolicyDirError(f"manifest ctrl_dt={self.ctrl_dt} must be a control period in (0, 10] s")
        _check_range("manifest sim_dt", self.sim_dt, 0.0, self.ctrl_dt, lo_open=True)
        if len(self.joints) != n:
            raise PolicyDirError(f"manifest joints has {len(self.joints)} entries, action.names {n}")
        if self.tracking_error_floor is not None:
            _check_range("manifest tracking_error_floor", self.tracking_error_floor, 0.0, MAX_MAGNITUDE)
        joint_names = {j.joint for j in self.joints}
        for site, chain in (self.kinematics or {}).items():
            if chain.site != site:
                raise PolicyDirError(f"manifest kinematics.{site} is the chain of site {chain.site!r}")
            chain.require_joints(joint_names, "the policy's")
        if self.belief_readout is not None:
            dim, want = {
                "pearl": ("latent_dim", "z"),
                "rma": ("extrinsics_dim", "extrinsics"),
                "rl2": ("hidden_size", "h"),
            }.get(self.adaptation.kind, (None, None))
            if dim is None or self.belief_readout.belief != want:
                raise PolicyDirError(
                    f"manifest belief_readout reads {self.belief_readout.belief!r}, which a {self.adaptation.kind!r} "
                    "adapter does not report"
                )
            if len(self.belief_readout.weights) != getattr(self.adaptation, dim):
                raise PolicyDirError(
                    f"manifest belief_readout has {len(self.belief_readout.weights)} weights, adaptation.{dim} is "
                    f"{getattr(self.adaptation, dim)}"
                )
        if self.robot is not None:
            for name, sig in self.robot.observation.items():
                if sig.signal == "site_pos" and (sig.site is None or sig.site not in (self.kinematics or {})):
                    raise PolicyDirError(f"manifest robot.observation.{name}: site {sig.site!r} has no kinematic chain")

    @property
    def kind(self) -> str:
        """The adaptation kind: "pearl", "rl2", "rma" or "none"."""
        return self.adaptation.kind

    @property
    def commands(self) -> tuple[TaskParamRange, ...]:
        """The commands the policy observes, in observation order."""
        return tuple(p for p in self.task_params if p.role == "command")

    def param(self, name: str) -> TaskParamRange | None:
        return next((p for p in self.task_params if p.name == name), None)

    def slice(self, name: str) -> ObsSliceSpec | None:
        return next((s for s in self.observation if s.name == name), None)

    # ---- JSON ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return _dump(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, raw: Any, where: str = "manifest") -> PolicyManifest:
        """Check and convert; a missing or mistyped field raises `PolicyDirError` naming it."""
        if not isinstance(raw, dict):
            raise PolicyDirError(f"{where}: a manifest is a JSON object, got {type(raw).__name__}")
        version = raw.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise PolicyDirError(f"{where}: format_version is missing")
        if version > FORMAT_VERSION:
            raise PolicyDirError(
                f"{where}: format_version {version} is newer than this runtime supports ({FORMAT_VERSION}); "
                "update robot-meta on the robot computer"
            )
        return _load(cls, raw, "manifest") if where == "manifest" else cls._at(raw, where)

    @classmethod
    def _at(cls, raw: dict[str, Any], where: str) -> PolicyManifest:
        try:
            return _load(cls, raw, "manifest")
        except PolicyDirError as exc:
            raise PolicyDirError(f"{where}: {exc}") from None

    @classmethod
    def read(cls, policy_dir: str | Path) -> PolicyManifest:
        """`policy_dir/manifest.json`, its bytes checked against the policy dir's digest (`DIGEST_FILE`), then
        field by field; the digest must also list every graph with the manifest's sha256."""
        path = Path(policy_dir) / "manifest.json"
        if not path.exists():
            raise PolicyDirError(f"{policy_dir} has no manifest.json; export a run with robot-meta export")
        if not path.is_file() or path.stat().st_size > MAX_MANIFEST_BYTES:  # a FIFO would hang the read
            raise PolicyDirError(f"{path} is not a regular file of at most {MAX_MANIFEST_BYTES} bytes")
        sums = read_digest(policy_dir)
        data = path.read_bytes()  # hashed and parsed from the same bytes
        if hashlib.sha256(data).hexdigest() != sums.get("manifest.json"):
            raise PolicyDirError(
                f"{path} does not match its sha256 in {DIGEST_FILE} (edited or corrupted after export); export the "
                f"run again, or after checking a deliberate edit run robot-meta seal {policy_dir}"
            )
        try:
            raw = json.loads(data.decode())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise PolicyDirError(f"{path} is not valid JSON: {exc}") from None
        manifest = cls.from_dict(raw, str(path))
        for name, spec in manifest.graphs.items():
            policy_file(policy_dir, spec.file, f"graphs.{name}")  # a path out of the dir is refused as such first
            if sums.get(spec.file) != spec.sha256:
                raise PolicyDirError(
                    f"graphs.{name}: {DIGEST_FILE} of {policy_dir} does not list {spec.file!r} with the manifest's sha256"
                )
        return manifest


# ---- the policy dir's files and digest ---------------------------------------------------------------------
MAX_GRAPH_BYTES = 1 << 30  # 1 GiB: far above any policy this stack exports (kilobytes to megabytes)
DIGEST_FILE = "SHA256SUMS"  # `sha256sum -c SHA256SUMS` checks a policy dir on any machine
MAX_DIGEST_BYTES = 64 << 10  # a line per file of a policy dir


def policy_file(policy_dir: str | Path, name: str, field: str) -> Path:
    """`name` as a file of the policy dir, refused by `field` unless it is a plain file directly inside the dir:
    no absolute path, no `..` or subdirectory, no symlink, no device or FIFO (which would hang a read), and not
    over `MAX_GRAPH_BYTES` (a /dev/zero would exhaust memory)."""
    import stat

    if not name or Path(name).name != name or name in (".", ".."):
        raise PolicyDirError(f"{field}: file {name!r} must be a file name inside the policy dir (no path)")
    path = Path(policy_dir) / name
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise PolicyDirError(f"{field}: file {path} is missing") from None
    if stat.S_ISLNK(st.st_mode):
        raise PolicyDirError(f"{field}: {path} is a symbolic link; a policy dir holds its own files")
    if not stat.S_ISREG(st.st_mode):
        raise PolicyDirError(f"{field}: {path} is not a regular file")
    if st.st_size > MAX_GRAPH_BYTES:
        raise PolicyDirError(f"{field}: {path} is {st.st_size} bytes, over the {MAX_GRAPH_BYTES}-byte limit")
    return path


def read_digest(policy_dir: str | Path) -> dict[str, str]:
    """{file name: sha256 hex} from the policy dir's `DIGEST_FILE` (sha256sum's format), refused if missing or
    malformed."""
    try:
        path = policy_file(policy_dir, DIGEST_FILE, "digest")
    except PolicyDirError as exc:
        if "is missing" not in str(exc):
            raise
        raise PolicyDirError(
            f"{policy_dir} has no {DIGEST_FILE} (the digest of manifest.json and its graphs that export writes): "
            f"export the run again, or after checking the dir run robot-meta seal {policy_dir}"
        ) from None
    if path.stat().st_size > MAX_DIGEST_BYTES:
        raise PolicyDirError(f"{path} is over {MAX_DIGEST_BYTES} bytes: not a policy dir's digest")
    sums: dict[str, str] = {}
    for n, line in enumerate(path.read_bytes().decode(errors="replace").splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or not name:
            raise PolicyDirError(f"{path} line {n} {line[:80]!r} is not 'SHA256  FILE'")
        sums[name] = digest
    return sums


def seal(policy_dir: str | Path) -> dict[str, str]:
    """Write the policy dir's `DIGEST_FILE` for its manifest.json and graphs, after checking them: the manifest
    field by field, every graph a plain file of the dir whose sha256 is the manifest's. Export calls it; so does
    `robot-meta seal` after a deliberate hand edit. Returns {file name: sha256}."""
    policy_dir = Path(policy_dir)
    path = policy_file(policy_dir, "manifest.json", "manifest")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise PolicyDirError(f"{path} is over {MAX_MANIFEST_BYTES} bytes")
    data = path.read_bytes()
    try:
        raw = json.loads(data.decode())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise PolicyDirError(f"{path} is not valid JSON: {exc}") from None
    manifest = PolicyManifest.from_dict(raw, str(path))
    sums = {"manifest.json": hashlib.sha256(data).hexdigest()}
    for name, spec in manifest.graphs.items():
        digest = hashlib.sha256(policy_file(policy_dir, spec.file, f"graphs.{name}").read_bytes()).hexdigest()
        if digest != spec.sha256:
            raise PolicyDirError(f"graphs.{name}: {spec.file} does not match the manifest's sha256 (corrupt or replaced)")
        sums[spec.file] = digest
    tmp = policy_dir / (DIGEST_FILE + ".tmp")
    tmp.write_text("".join(f"{d}  {n}\n" for n, d in sorted(sums.items())))
    tmp.replace(policy_dir / DIGEST_FILE)
    return sums


# ---- conversion: one generic walk over the dataclasses' type hints ----------------------------------------
def _dump(x: Any) -> Any:
    if dataclasses.is_dataclass(x):
        out = {}
        for f in dataclasses.fields(x):
            v = getattr(x, f.name)
            if v is None and f.metadata.get("omit_none"):
                continue
            out[f.name] = _dump(v)
        return out
    if isinstance(x, tuple | list):
        return [_dump(v) for v in x]
    if isinstance(x, dict):
        return {k: _dump(v) for k, v in x.items()}
    return x


def _load(kind: Any, raw: Any, path: str) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if dataclasses.is_dataclass(kind):
        if not isinstance(raw, dict):
            raise PolicyDirError(f"{path}: expected an object, got {type(raw).__name__}")
        hints = typing.get_type_hints(kind)
        values = {}
        for f in dataclasses.fields(kind):
            if f.name not in raw:
                if f.default is not dataclasses.MISSING:
                    continue
                raise PolicyDirError(f"{path}.{f.name} is missing")
            values[f.name] = _load(hints[f.name], raw[f.name], f"{path}.{f.name}")
        try:
            return kind(**values)
        except PolicyDirError as exc:
            raise PolicyDirError(f"{path}: {exc}") from None
    if kind is Adaptation or (origin in (typing.Union, types.UnionType) and set(args) == set(ADAPTATIONS.values())):
        k = raw.get("kind") if isinstance(raw, dict) else None
        if k not in ADAPTATIONS:
            raise PolicyDirError(f"{path}.kind {k!r} is not one this runtime runs ({', '.join(ADAPTATIONS)})")
        return _load(ADAPTATIONS[k], raw, path)
    if origin in (typing.Union, types.UnionType):
        if raw is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for a in inner:
            try:
                return _load(a, raw, path)
            except PolicyDirError as exc:
                errors.append(str(exc))
        raise PolicyDirError(errors[0] if len(errors) == 1 else f"{path}: {raw!r} matches none of {inner}")
    if origin is Literal:
        if raw not in args:
            raise PolicyDirError(f"{path}={raw!r} must be one of {list(args)}")
        return raw
    if origin is tuple:
        if not isinstance(raw, list):
            raise PolicyDirError(f"{path}: expected a list, got {type(raw).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_load(args[0], v, f"{path}[{i}]") for i, v in enumerate(raw))
        if len(raw) != len(args):
            raise PolicyDirError(f"{path}: expected {len(args)} entries, got {len(raw)}")
        return tuple(_load(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, raw, strict=True)))
    if origin is dict:
        if not isinstance(raw, dict):
            raise PolicyDirError(f"{path}: expected an object, got {type(raw).__name__}")
        return {k: _load(args[1], v, f"{path}.{k}") for k, v in raw.items()}
    if kind is Any:
        return raw
    if kind is bool:
        if not isinstance(raw, bool):
            raise PolicyDirError(f"{path}={raw!r} must be true or false")
        return raw
    if kind is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise PolicyDirError(f"{path}={raw!r} must be an integer")
        return raw
    if kind is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise PolicyDirError(f"{path}={raw!r} must be a finite number")
        return float(raw)
    if kind is str:
        if not isinstance(raw, str):
            raise PolicyDirError(f"{path}={raw!r} must be a string")
        return raw
    raise TypeError(f"{path}: no loader for {kind!r}")  # a programming error in this module, not bad input
