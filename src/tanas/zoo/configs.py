"""Which probe config a zoo operation uses, and the hash its probes are stored under."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tanas.errors import ConfigError, TanasError
from tanas.zoo.rows import ArtifactRows
from tanas.zoo.values import config_dict, config_from_dict, config_hash

if TYPE_CHECKING:  # pragma: no cover
    from tanas.probe import ProbeConfig


class ProbeConfigs:
    """The probe configs stored in a zoo's catalogue."""

    def __init__(self, artifacts: ArtifactRows) -> None:
        self.artifacts = artifacts

    def listed(self) -> dict[str, dict[str, Any]]:
        """Every probe config of the listed tasks: config hash -> config dict."""
        return dict(self.artifacts.configs(listed=True))

    def stored(self, probe: str | ProbeConfig | None) -> tuple[str, dict[str, Any]] | None:
        """(hash, config dict) to use for ``probe``: a ProbeConfig is matched to a stored config (else
        hashed as it is); a name (or None) means the listed tasks' config of that name, if there is
        exactly one. None when there is none."""
        if probe is not None and not isinstance(probe, str):
            return self.key(probe), config_dict(probe)
        matching = {h: c for h, c in self.listed().items() if probe is None or c.get("name") == probe}
        if len(matching) > 1:
            listed = "; ".join(f"{h}: {c}" for h, c in sorted(matching.items()))
            named = "" if probe is None else f" named {probe!r}"
            raise ConfigError(
                f"the zoo holds {len(matching)} probe configs{named} ({listed}); pass the ProbeConfig to use"
            )
        return next(iter(matching.items()), None)

    def key(self, config: ProbeConfig) -> str:
        """The hash under which probes of ``config`` are stored (see :meth:`TaskZoo.config_key`)."""
        for chash, stored in self.artifacts.configs(listed=False):
            try:
                if config_from_dict(stored) == config:
                    return str(chash)
            except TanasError:
                continue
        return config_hash(config)

    def resolve(self, probe: str | ProbeConfig | None = None) -> ProbeConfig:
        """A ProbeConfig for training: the zoo's config of that name if it has one, else the default."""
        from tanas.probe import ProbeConfig

        if probe is not None and not isinstance(probe, (str, ProbeConfig)):
            raise ConfigError(f"probe must be a probe name or a ProbeConfig, not {type(probe).__name__}")
        if isinstance(probe, ProbeConfig):
            return probe
        stored = self.stored(probe)
        return config_from_dict(stored[1]) if stored is not None else ProbeConfig(name=probe or "cnn")
