"""RMA, Rapid Motor Adaptation (Kumar et al. 2021): teacher with privileged extrinsics, student from history."""

from robot_meta.rma.rma import RMA, RMAActor, RMAConfig, RMANetworks

__all__ = ["RMA", "RMAActor", "RMAConfig", "RMANetworks"]
