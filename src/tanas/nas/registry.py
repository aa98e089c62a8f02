"""The strategy registry: every search strategy by name, with its frozen config class (as timm's models).

    @register_strategy("fuse", FuseConfig)
    def fuse_search(task, *, budget, space=None, initial=None, config=None, seed=0, device=None, quiet=False):
        ...                                                        # -> SearchOutcome

    config = strategy_config("fuse", {"candidates": "6", "train.lr": "0.1"}, C=8)   # --opt KEY=VALUE strings
    result = run_search(task, "fuse", config, budget=Budget(seconds=60))          # search + final protocol

A *search function* takes the task and the keywords of :data:`SEARCH_ARGUMENTS`
and returns a :class:`SearchOutcome`. Any further keyword-only parameter is
*context*: something the search needs besides its settings (TA-NAS: the zoo and
the tasks to leave out), which :func:`run_search` takes by name and refuses for
a strategy that does not declare it. A strategy may also register a *finish*
step, run after the final protocol with the search's outcome, the result record
and the same context; it returns the record to report (TA-NAS stores the
winner in the zoo there and adds its own fields).

The built-in strategies register themselves when :mod:`tanas.nas` is imported,
in the order fuse, random, darts, tanas.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch

from tanas.data import Task
from tanas.errors import StrategyConfigError
from tanas.genotypes import Genotype, as_genotype
from tanas.nas.common import Budget, SearchOutcome, TrainConfig, configure
from tanas.nas.result import SearchResult, check_final_protocol, finish_search
from tanas.nas.space import SearchSpace
from tanas.runtime import resolve_device

#: ``fn(task, *, budget, space, initial, config, seed, device, quiet, **context) -> SearchOutcome``
SearchFn = Callable[..., SearchOutcome]
#: ``finish(outcome, result, *, task, config, budget, seed, device, **context) -> SearchResult``
FinishFn = Callable[..., SearchResult]

#: The keywords every search function takes; its other keyword-only parameters are its context.
SEARCH_ARGUMENTS = ("budget", "space", "initial", "config", "seed", "device", "quiet")


@dataclass(frozen=True)
class StrategySpec:
    """A registered strategy.

    Attributes:
        name: the name :func:`run_search` and ``tanas search --strategy`` know it by.
        search: the search function.
        config_cls: its frozen config dataclass (``config=None`` runs with ``config_cls()``).
        network: the dotted attribute of the config that holds the network size ``C`` and ``N``
            ("" for the config itself; TA-NAS: "fuse").
        finish: the optional step after the final protocol (see the module doc).
        context: the search function's context parameters.
    """

    name: str
    search: SearchFn
    config_cls: type
    network: str = ""
    finish: FinishFn | None = None
    context: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """The config's field names."""
        return tuple(f.name for f in dataclasses.fields(self.config_cls) if f.init)

    def accepts(self, key: str) -> bool:
        """Whether ``key`` is one of this strategy's settings: a config field or a context parameter."""
        return key in self.context or key in self.fields

    def configure(
        self, options: Mapping[str, Any] | None = None, *, C: int | None = None, N: int | None = None, **fixed: Any
    ) -> Any:
        """The config from string ``options`` (``"train.lr": "0.1"``) and typed ``fixed`` fields.

        ``C`` and ``N`` (the network size) go where the config keeps them. An option
        that is also fixed is refused (its command-line flag sets it).
        """
        _refuse_foreign(self, fixed, self.fields)
        prefix = f"{self.network}." if self.network else ""
        size = {f"{prefix}{key}": value for key, value in (("C", C), ("N", N)) if value is not None}
        return configure(self.config_cls, options, **size, **fixed)

    def check_config(self, config: Any) -> Any:
        """``config``, or the default config for None; a config of another class is refused."""
        if config is None:
            return self.config_cls()
        if not isinstance(config, self.config_cls):
            raise StrategyConfigError(
                f"strategy {self.name!r} takes a {self.config_cls.__name__}, got {type(config).__name__}"
            )
        return config

    def network_size(self, config: Any) -> tuple[int, int]:
        """``(C, N)`` of the networks ``config`` trains (the final protocol retrains at that size)."""
        holder = config
        for part in filter(None, self.network.split(".")):
            holder = getattr(holder, part)
        return holder.C, holder.N


_REGISTRY: dict[str, StrategySpec] = {}
#: Every registered strategy by name, in registration order (a read-only view).
STRATEGIES: Mapping[str, StrategySpec] = MappingProxyType(_REGISTRY)


def register_strategy(
    name: str, config_cls: type, *, network: str = "", finish: FinishFn | None = None
) -> Callable[[SearchFn], SearchFn]:
    """A decorator that registers a search function as strategy ``name`` with its frozen ``config_cls``.

    The function is returned unchanged. ``network`` and ``finish``: see :class:`StrategySpec`.
    """
    params = getattr(config_cls, "__dataclass_params__", None)
    if params is None or not params.frozen:
        raise TypeError(f"strategy {name!r}: its config {config_cls!r} must be a frozen dataclass")

    def decorator(search: SearchFn) -> SearchFn:
        if name in _REGISTRY:
            raise ValueError(f"a strategy named {name!r} is already registered ({_REGISTRY[name].search.__qualname__})")
        signature = inspect.signature(search).parameters
        missing = [arg for arg in SEARCH_ARGUMENTS if arg not in signature]
        if missing:
            raise TypeError(f"strategy {name!r}: {search.__qualname__} lacks the keyword(s) {', '.join(missing)}")
        context = tuple(
            p.name
            for p in signature.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in SEARCH_ARGUMENTS
        )
        _REGISTRY[name] = StrategySpec(
            name=name, search=search, config_cls=config_cls, network=network, finish=finish, context=context
        )
        return search

    return decorator


def get_strategy(name: str) -> StrategySpec:
    """The registered strategy ``name``; an unknown name raises :class:`StrategyConfigError` listing the known ones."""
    spec = _REGISTRY.get(name)
    if spec is None:
        raise StrategyConfigError(f"unknown strategy {name!r}: use one of {', '.join(_REGISTRY)}")
    return spec


def strategy_config(
    name: str, options: Mapping[str, Any] | None = None, *, C: int | None = None, N: int | None = None, **fixed: Any
) -> Any:
    """Strategy ``name``'s config from string ``options`` and typed values (see :meth:`StrategySpec.configure`)."""
    return get_strategy(name).configure(options, C=C, N=N, **fixed)


def _refuse_foreign(spec: StrategySpec, keys: Iterable[str], allowed: Iterable[str]) -> None:
    """Refuse the ``keys`` not in ``allowed``, naming the strategies that take them (as settings, they are
    the command line's flags of the same name)."""
    allowed = set(allowed)
    foreign = [key for key in keys if key not in allowed]
    if not foreign:
        return
    flags = ", ".join(f"--{key}" for key in foreign)
    owners = [s.name for s in _REGISTRY.values() if s is not spec and all(s.accepts(key) for key in foreign)]
    if owners:
        raise StrategyConfigError(f"{flags} only apply to --strategy {', '.join(owners)}")
    raise StrategyConfigError(f"--strategy {spec.name} does not take {flags}")


def run_search(
    task: Task,
    strategy: str,
    config: Any = None,
    *,
    budget: Budget,
    space: SearchSpace | None = None,
    initial: Genotype | str | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    final_seeds: int = 3,
    final_epochs: int = 30,
    final_train: TrainConfig | None = None,
    quiet: bool = False,
    **context: Any,
) -> SearchResult:
    """Search ``task`` with registered ``strategy``, then run the final protocol (skipped with ``final_seeds=0``).

    ``config`` is the strategy's config (None: its defaults; see :func:`strategy_config`
    for building one from strings); ``space`` None is the full space. ``context`` goes
    to the search function and its finish step (TA-NAS: ``zoo``, ``exclude``, ...).
    """
    spec = get_strategy(strategy)
    config = spec.check_config(config)
    _refuse_foreign(spec, context, spec.context)
    check_final_protocol(final_seeds, final_epochs)
    device = resolve_device(device)
    first = as_genotype(initial) if initial is not None else None
    outcome = spec.search(
        task, budget=budget, space=space, initial=first, config=config, seed=seed, device=device, quiet=quiet, **context
    )
    if outcome.strategy != strategy:  # e.g. a pipeline that runs FUSE inside is reported as itself
        outcome = dataclasses.replace(outcome, strategy=strategy)
    C, N = spec.network_size(config)
    searched = outcome.space or space or SearchSpace.full()
    result = finish_search(
        outcome,
        task,
        space=searched,
        budget=budget,
        seed=seed,
        device=device,
        C=C,
        N=N,
        final_seeds=final_seeds,
        final_epochs=final_epochs,
        final_train=final_train,
        quiet=quiet,
    )
    if spec.finish is not None:
        result = spec.finish(
            outcome, result, task=task, config=config, budget=budget, seed=seed, device=device, **context
        )
    return result
