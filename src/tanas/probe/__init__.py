"""Probe networks (the paper's ε-approximation networks) and their training to ε."""

from tanas.probe.models import PROBE_NAMES, ProbeNet, build_probe
from tanas.probe.training import ProbeConfig, ProbeRecord, as_probe_config, probe_for_task, train_probe

__all__ = [
    "PROBE_NAMES",
    "ProbeConfig",
    "ProbeNet",
    "ProbeRecord",
    "as_probe_config",
    "build_probe",
    "probe_for_task",
    "train_probe",
]
