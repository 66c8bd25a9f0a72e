"""Name -> factory registries with lazy ``"module:attr"`` targets and entry-point plugins.

A registry entry is cheap metadata (description, defaults) plus a target that is imported only when
the entry is built, so ``pjbench list`` never imports torch models it does not need. Third-party
packages add entries through an entry-point group (``pjbench.encoders``) without forking pjbench.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Generic, Iterator, TypeVar

from pjbench.benchmarks.errors import PjbenchError

T = TypeVar("T")

# Arguments pjbench itself passes to every model factory (they have their own flags: --checkpoint, --device).
RESERVED_ARGS = ("checkpoint", "device")


def resolve_target(target: str | Callable[..., Any]) -> Callable[..., Any]:
    """Import ``"package.module:attr"`` (or return a callable unchanged)."""
    if callable(target):
        return target
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ValueError(f"registry target {target!r} must look like 'package.module:attr'")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError as exc:  # pragma: no cover - a packaging bug, not a user error
        raise ImportError(f"{module_name} has no attribute {attr!r} (registry target {target!r})") from exc


@dataclass
class Entry(Generic[T]):
    """One registered name.

    ``target`` builds the object: ``target(**defaults, **kwargs)`` (``defaults`` lets several names share
    one factory, e.g. model variants differing only by checkpoint). ``info`` is free metadata shown by
    ``pjbench list`` (defaults, resolution, readouts, source ...). ``source`` says where the entry came
    from (``builtin`` or the distribution that provided the entry point).
    """

    name: str
    target: str | Callable[..., T]
    description: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    source: str = "builtin"
    defaults: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Callable[..., T]:
        return resolve_target(self.target)


class Registry(Generic[T]):
    """A named collection of lazily imported factories."""

    def __init__(self, kind: str, entry_point_group: str | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, Entry[T]] = {}
        self._plugins_loaded = entry_point_group is None

    def register(
        self,
        name: str,
        target: str | Callable[..., T],
        description: str = "",
        *,
        source: str = "builtin",
        overwrite: bool = False,
        defaults: dict[str, Any] | None = None,
        **info: Any,
    ) -> Entry[T]:
        if name in self._entries and not overwrite:
            raise ValueError(f"{self.kind} {name!r} is already registered (from {self._entries[name].source})")
        entry = Entry(name=name, target=target, description=description, info=dict(info), source=source,
                      defaults=dict(defaults or {}))
        self._entries[name] = entry
        return entry

    def _load_plugins(self) -> None:
        """Import entry points once. A plugin's object is either an ``Entry``-like callable that
        registers itself, or a factory registered under the entry-point name."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in metadata.entry_points(group=self.entry_point_group):
            if ep.name in self._entries:
                continue
            dist = getattr(getattr(ep, "dist", None), "name", None) or "plugin"
            obj = ep.load()
            info = dict(getattr(obj, "pjbench_info", {}) or {})
            description = info.pop("description", "") or (obj.__doc__ or "").strip().split("\n")[0]
            self.register(ep.name, obj, description, source=dist, **info)

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry[T]]:
        self._load_plugins()
        for name in sorted(self._entries):
            yield self._entries[name]

    def get(self, name: str) -> Entry[T]:
        self._load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise PjbenchError(
                f"unknown {self.kind} {name!r}.{hint} Run `pjbench list` to see the registered {self.kind}s."
            ) from None

    def accepted_args(self, name: str) -> tuple[str, ...] | None:
        """Keyword arguments the factory of ``name`` takes from a user (``--model-arg``), read from its signature:
        every named parameter except :data:`RESERVED_ARGS` and those the entry fixes in ``defaults``.
        ``None``: the factory takes ``**kwargs``, so anything goes (a plugin that reads its own options)."""
        entry = self.get(name)
        try:
            params = inspect.signature(entry.load()).parameters.values()
        except (TypeError, ValueError):  # a builtin or C callable without a signature: cannot tell
            return None
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return tuple(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                     and p.name not in RESERVED_ARGS and p.name not in entry.defaults)

    def check_args(self, name: str, kwargs: dict[str, Any]) -> None:
        """Refuse keys the factory of ``name`` does not take (a typo such as ``layr=-4`` would otherwise be
        dropped or crash), naming the keys it accepts."""
        reserved = sorted(set(kwargs) & set(RESERVED_ARGS))
        if reserved:
            flags = ", ".join(f"--{k}" for k in reserved)
            raise PjbenchError(f"{self.kind} argument(s) {', '.join(reserved)}: use {flags} instead")
        accepted = self.accepted_args(name)
        entry = self.get(name)
        unknown = sorted(k for k in kwargs if accepted is not None and k not in accepted and k not in entry.defaults)
        if unknown:
            hints = [f"{k} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(k, accepted or (), n=1)) else k
                     for k in unknown]
            raise PjbenchError(
                f"{self.kind} {name} does not take the argument(s) {', '.join(hints)}; it accepts: "
                + (", ".join(accepted) if accepted else "no extra arguments"))

    def check_arg_types(self, name: str, kwargs: dict[str, Any]) -> None:
        """Refuse a value whose type cannot be what the factory's parameter is: an ``int`` / ``float`` /
        ``bool`` parameter (from its default value, else its annotation) given anything else, e.g.
        ``--model-arg seed=abc`` (JSON values arrive typed: ``seed=3`` is an int, ``seed=abc`` a string)."""
        entry = self.get(name)
        try:
            params = inspect.signature(entry.load()).parameters
        except (TypeError, ValueError):
            return
        for key, value in kwargs.items():
            p = params.get(key)
            if p is None or value is None:
                continue
            want = _expected_type(p)
            if want is None:
                continue
            ok = (isinstance(value, bool) if want is bool else
                  isinstance(value, (int, float)) and not isinstance(value, bool) if want is float else
                  isinstance(value, int) and not isinstance(value, bool))
            if not ok:
                raise PjbenchError(f"{self.kind} {name}: --model-arg {key}={value!r} is a {type(value).__name__}; "
                                   f"{key} takes a{'n' if want is int else ''} {want.__name__} (e.g. {key}=3)"
                                   if want is not bool else
                                   f"{self.kind} {name}: --model-arg {key}={value!r}: {key} takes true or false")

    def build(self, name: str, **kwargs: Any) -> T:
        entry = self.get(name)
        given = {k: v for k, v in kwargs.items() if v is not None}
        self.check_args(name, {k: v for k, v in given.items() if k not in RESERVED_ARGS})
        self.check_arg_types(name, {k: v for k, v in given.items() if k not in RESERVED_ARGS})
        return entry.load()(**{**entry.defaults, **given})

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries


def _expected_type(p: inspect.Parameter) -> type | None:
    """``int``, ``float`` or ``bool`` when parameter ``p`` can only be that (default value, else annotation
    such as ``"int | None"``); ``None`` when it can be anything else too."""
    if p.default is not inspect.Parameter.empty and p.default is not None:
        return type(p.default) if type(p.default) in (int, float, bool) else None
    ann = p.annotation
    if ann is inspect.Parameter.empty:
        return None
    text = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
    words = {w.strip() for w in text.replace("Optional[", "").replace("]", "").split("|")}
    words.discard("None")
    return {"int": int, "float": float, "bool": bool}.get(next(iter(words))) if len(words) == 1 else None
