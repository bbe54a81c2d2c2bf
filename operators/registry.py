"""The plugin table: every implementation the harness can measure, as an `OperatorSpec`.

Built-in implementations register themselves when their module is imported; third-party packages
add theirs through the entry-point group `hyena_bench.operators` (each entry point names a module
to import, or a callable returning `OperatorSpec`s). This table is the one piece of global state.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import types
import warnings
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import torch

from operators import capabilities, vml
from operators.config import FAMILIES, SAFE_NAME, Config, did_you_mean

if TYPE_CHECKING:
    from operators.case import Case

ENTRY_POINT_GROUP = "hyena_bench.operators"

# Before any case is built in this process: MKL's math functions must not pick their kernels on
# several threads at once (operators/vml.py).
vml.warm()


class PluginWarning(UserWarning):
    """A third-party implementation that failed to load or to answer; the rest carry on."""


def failure(exc: BaseException) -> str:
    """'SystemExit: 3': what a plugin raised, in one line of at most 300 characters."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return (f"{type(exc).__name__}: {first}" if first else type(exc).__name__)[:300]


# Imported on first use of the table, in this order (the order `hyena-bench list` shows).
BUILTIN_MODULES = (
    "operators.attention",
    "operators.longconv.naive",
    "operators.longconv.fft",
    "operators.longconv.triton_specs",
    "operators.hyena_fused",
    "operators.compiled",
    "operators.flashfftconv",
)


class Availability(NamedTuple):
    """Whether an implementation can run here; `reason` says why not (empty when it can)."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return "yes" if self.ok else self.reason


@dataclass(frozen=True)
class OperatorSpec:
    """One measurable implementation.

    `build(config, device, stages=False)` returns a ready-to-call `Case` (inputs allocated,
    weights initialised, seeded). `flops(config)` / `bytes(config)` are the analytic work and
    minimum memory traffic of the function the family computes; `issued_flops(config)` is the
    work the implementation's code actually runs (None: not counted). `probe(device)` is an
    optional finer availability check (e.g. a tiny real call), returning a reason or None;
    `limits(config, device)` says why one config cannot run (a reason, or None).
    `verify_batch(config)` is the smallest batch at which the implementation runs the same
    kernel variant and plan as at `config.batch` (default 1: nothing it runs depends on the
    batch size); the runner checks each row against float64 at that batch and the row's length.
    """

    name: str
    family: str
    build: Callable[..., Case]
    flops: Callable[[Config], float]
    bytes: Callable[[Config], float]
    detail: str
    requires: tuple[str, ...] = ()
    levels: tuple[str, ...] = ("core", "layer")
    probe: Callable[[torch.device], str | None] | None = None
    limits: Callable[[Config, torch.device], str | None] | None = None
    source: str = "builtin"
    extra: dict[str, object] = field(default_factory=dict, compare=False)
    issued_flops: Callable[[Config], float | None] | None = None
    verify_batch: Callable[[Config], int] | None = None

    def verify_config(self, config: Config) -> Config:
        """The shape of the float64 check for a row timed at `config`: the same length, level,
        dtype and mode, at the smallest batch that runs what the row times."""
        batch = self.verify_batch(config) if self.verify_batch is not None else 1
        return config.replace(batch=max(1, min(batch, config.batch)))

    def available(self, device: torch.device | str | None = None) -> Availability:
        """Can this implementation run on `device` (default: CUDA if present, else CPU)?"""
        dev = capabilities.resolve_device(device)
        for req in self.requires:
            reason = capabilities.missing(req, dev)
            if reason:
                return Availability(False, reason)
        if self.probe is not None:
            try:
                reason = self.probe(dev)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a plugin's probe may raise anything, even SystemExit
                reason = f"its availability check failed: {failure(exc)}"
            if reason:
                return Availability(False, str(reason))
        return Availability(True)

    def supports(self, config: Config, device: torch.device | str | None = None) -> str | None:
        """Why `config` cannot run on `device` with this implementation, or None if it can."""
        dev = capabilities.resolve_device(device)
        problem = config.problem()
        if problem:
            return problem
        if config.level not in self.levels:
            return f"{self.name} has no {config.level} level (levels: {', '.join(self.levels)})"
        if not capabilities.dtype_runs(config.dtype, dev):
            return f"dtype {config.dtype} does not run on {dev.type} here"
        availability = self.available(dev)
        if not availability:
            return availability.reason
        if self.limits is None:
            return None
        try:
            return self.limits(config, dev)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            return f"its limits check failed: {failure(exc)}"


_TABLE: dict[str, OperatorSpec] = {}
_LOADED = False


def register(spec: OperatorSpec) -> OperatorSpec:
    """Add `spec` to the table; names are unique, lower-case with dashes (SAFE_NAME: they reach
    file names)."""
    if not SAFE_NAME.fullmatch(spec.name):
        raise ValueError(
            f"operator name {spec.name!r} must be lower-case letters, digits, dots and dashes"
        )
    if spec.family not in FAMILIES:
        raise ValueError(f"{spec.name}: unknown family {spec.family!r} (known: {FAMILIES})")
    existing = _TABLE.get(spec.name)
    if existing is not None and existing is not spec:
        raise ValueError(f"operator {spec.name!r} is already registered (from {existing.source})")
    _TABLE[spec.name] = spec
    return spec


def _load_entry_point(ep: importlib.metadata.EntryPoint) -> None:
    obj = ep.load()  # "pkg.module" registers on import; "pkg.module:func" returns specs
    if isinstance(obj, types.ModuleType):
        return
    for spec in obj() or ():
        register(spec)


def load_plugins() -> None:
    """Import built-in implementations, then third-party ones from entry points (once)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            _load_entry_point(ep)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: a broken plugin must not take us down
            warnings.warn(
                f"plugin {ep.name!r} ({ep.value}) failed to load: {failure(exc)}",
                PluginWarning,
                stacklevel=2,
            )


def specs() -> list[OperatorSpec]:
    """Every registered implementation, in registration order."""
    load_plugins()
    return list(_TABLE.values())


def get(name: str) -> OperatorSpec:
    """The implementation called `name`; KeyError names the known ones."""
    load_plugins()
    try:
        return _TABLE[name]
    except KeyError:
        known = ", ".join(_TABLE)
        hint = did_you_mean(name, _TABLE)
        raise KeyError(f"unknown operator {name!r}{hint}; known: {known}") from None


def same_variant_batch(variant: Callable[[Config], Hashable]) -> Callable[[Config], int]:
    """A `verify_batch` hook from `variant(config)`, which names what the implementation runs
    for a config (a kernel, its compile-time block sizes, a plan): the smallest batch whose
    variant is the timed batch's."""

    def smallest(config: Config) -> int:
        timed = variant(config)
        for batch in range(1, config.batch):
            if variant(config.replace(batch=batch)) == timed:
                return batch
        return config.batch

    return smallest


def available_specs(device: torch.device | str | None = None) -> list[OperatorSpec]:
    return [s for s in specs() if s.available(device)]


def opt_in(spec: OperatorSpec) -> str:
    """Why `spec` runs only when named (`extra["opt_in"]`, e.g. a compile per case), or ""."""
    return str(spec.extra.get("opt_in", ""))


def select(ops: Iterable[str] = (), families: Iterable[str] = ()) -> list[OperatorSpec]:
    """Specs named in `ops` (in that order), else those of `families`, else all; without `ops`,
    opt-in specs are left out."""
    ops, families = list(ops), list(families)
    if ops:
        return [get(name) for name in ops]
    table = [s for s in specs() if not opt_in(s)]
    if families:
        unknown = sorted(set(families) - set(FAMILIES))
        if unknown:
            hint = did_you_mean(unknown[0], FAMILIES)
            raise KeyError(f"unknown family {unknown[0]!r}{hint}; known: {', '.join(FAMILIES)}")
        return [s for s in table if s.family in families]
    return table
