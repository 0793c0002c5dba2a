"""PEARL (Rakelly et al., ICML 2019): SAC with a probabilistic context encoder."""

from robot_meta.pearl.pearl import PEARL, REFERENCE, PearlActor, PearlConfig

__all__ = ["PEARL", "REFERENCE", "PearlActor", "PearlConfig"]
