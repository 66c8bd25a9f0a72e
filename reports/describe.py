"""The protocol, the preprocessing and the provenance of a run in words: what the run cards of the report show.

Reads only results files; nested settings (probe features, cross-validation, library versions) become nested
tables, not ``key=value`` walls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from pjbench.reports import format as fmt

if TYPE_CHECKING:
    from pjbench.reports.view import Run

# Rules under which the context length was picked on the split being reported (optimistic numbers).
TEST_SELECTION_RULES = {"test", "oracle", "best", "best_on_test", "reported", "per_column"}


def describe_context_selection(selection: Any, reported_split: str | None) -> tuple[str, bool]:
    """The context-selection rule in one sentence, and whether it is optimistic (picked on the reported
    split)."""
    if not selection:
        return "Context-selection rule not recorded.", False
    if not isinstance(selection, Mapping):
        return f"Context selection: {fmt.compact(selection)}.", False
    rule = str(selection.get("rule") or "")
    selected = selection.get("selected")
    dev = selection.get("dev_split")
    what = f"context length {fmt.compact(selected)}" if selected is not None else "the context length"
    split = f" ({reported_split})" if reported_split else ""
    if rule == "dev":
        if dev and reported_split and str(dev) == str(reported_split):
            return (f"{what.capitalize()} chosen on {dev}, which is also the reported split: optimistic.", True)
        return (f"{what.capitalize()} chosen on {dev or 'a dev split'} (dev split), never on the reported "
                f"split{split}.", False)
    if rule == "fixed":
        return f"{what.capitalize()} fixed in advance, not tuned on any split.", False
    if rule in TEST_SELECTION_RULES:
        return (f"{what.capitalize()} chosen on the reported split{split}, as in published tables: "
                f"optimistic.", True)
    if not rule:
        return f"{what.capitalize()} (selection rule not recorded).", False
    return f"{what.capitalize()} chosen by rule “{rule}”.", False


def _dev_scores(selection: Any) -> str:
    scores = selection.get("dev_scores") if isinstance(selection, Mapping) else None
    if not isinstance(scores, Mapping) or not scores:
        return ""

    def key(k: Any) -> tuple[int, Any]:
        try:
            return (0, float(k))
        except (TypeError, ValueError):
            return (1, str(k))

    parts = []
    for k in sorted(scores, key=key):
        v = scores[k]
        shown = fmt.pct(v) if isinstance(v, (int, float)) and 0 <= v <= 1 else fmt.compact(v)
        parts.append(f"{k}: {shown}")
    return " · ".join(parts)


def nested(value: Any, depth: int = 0) -> Any:
    """A setting for the run card: a mapping becomes ``[(label, nested value), ...]`` (a nested table), a list
    of mappings one entry per element; scalars and plain lists a short string. Beyond 3 levels: compact."""
    if isinstance(value, Mapping) and value and depth < 3:
        return [(str(k).replace("_", " ").capitalize(), nested(v, depth + 1)) for k, v in value.items()]
    if isinstance(value, (list, tuple)) and value and depth < 3 and all(isinstance(v, Mapping) for v in value):
        return [(str(i + 1), nested(v, depth + 1)) for i, v in enumerate(value)]
    return fmt.compact(value)


_PROTOCOL_LABELS = {
    "readout": "Readout",
    "window": "Window (frames)",
    "stride": "Window stride",
    "contexts": "Context lengths tried",
    "max_context_mode": "Max-context mode",
    "n_boot": "Bootstrap resamples",
    "ci_level": "CI level",
}
_PROTOCOL_SKIP = {"context_selection", "reference", "threshold"}


def describe_protocol(protocol: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Rows ``(label, value)``; a value is a string or, for nested settings, rows of its own."""
    rows = []
    for key, label in _PROTOCOL_LABELS.items():
        if key in protocol:
            v = protocol[key]
            if key == "ci_level" and isinstance(v, (int, float)):
                shown = f"{fmt.pct(v, 0)} %"
            elif key == "n_boot":
                shown = fmt.count(v)
            else:
                shown = fmt.compact(v)
            rows.append((label, shown))
    threshold = protocol.get("threshold")
    if isinstance(threshold, Mapping):
        text = fmt.compact(threshold.get("value"))
        if threshold.get("source"):
            text += f", set on {threshold['source']}"
        rows.append(("Abs. accuracy threshold", text))
    elif threshold is not None:
        rows.append(("Abs. accuracy threshold", fmt.compact(threshold)))
    dev_scores = _dev_scores(protocol.get("context_selection"))
    if dev_scores:
        rows.append(("Dev score by context (%)", dev_scores))
    for key, v in protocol.items():
        if key not in _PROTOCOL_LABELS and key not in _PROTOCOL_SKIP:
            rows.append((key.replace("_", " ").capitalize(), nested(v)))
    return rows


def describe_preprocessing(pre: Any, protocol: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """The model's preprocessing in words. A probe run's features (``protocol.features``: ``n_frames`` sampled
    uniformly over each video) replace the model's native frames / fps: those are what the numbers used."""
    if not isinstance(pre, Mapping) or not pre:
        return [("Preprocessing", "not recorded")]
    feats = protocol.get("features") if isinstance(protocol, Mapping) else None
    if isinstance(feats, Mapping) and feats.get("n_frames") is not None:
        how = str(feats.get("sampling") or "uniform").split(" (")[0]
        pre = {k: v for k, v in pre.items() if k not in ("frames", "sample_fps", "frame_step")}
        rows = describe_preprocessing(pre)
        rows.insert(1, ("Frames per video", f"{fmt.compact(feats['n_frames'])} {'uniform' if how.startswith('uniform') else ''}"
                        f" frames (probe features: {how})".replace("  ", " ")))
        return rows
    rows = []
    if pre.get("resolution") is not None:
        crop = pre.get("crop_pct")
        text = f"{pre['resolution']} px"
        if isinstance(crop, (int, float)):
            text += ", full frame" if crop >= 1.0 else f", centre crop {fmt.pct(crop, 1)} %"
        rows.append(("Resolution", text))
    if pre.get("frames") is not None:
        rows.append(("Frames per clip", fmt.compact(pre["frames"])))
    if pre.get("sample_fps"):
        rows.append(("Frame sampling", f"{fmt.compact(pre['sample_fps'])} fps (step chosen per video)"))
    elif pre.get("frame_step") is not None:
        rows.append(("Frame sampling", f"every {fmt.ordinal(pre['frame_step'])} frame"))
    if pre.get("tubelet") is not None or pre.get("patch") is not None:
        tubelet, patch = fmt.compact(pre.get("tubelet")), fmt.compact(pre.get("patch"))
        rows.append(("Tubelet × patch", f"{tubelet} frames × {patch} px"))
    for key in ("mean", "std"):
        v = pre.get(key)
        if isinstance(v, (list, tuple)):
            shown = ", ".join(f"{x:.3f}" if isinstance(x, (int, float)) else str(x) for x in v)
            rows.append((key.capitalize(), shown))
    shown = {"resolution", "crop_pct", "frames", "sample_fps", "frame_step", "tubelet", "patch", "mean", "std"}
    for key, v in pre.items():
        if key not in shown:
            rows.append((key.replace("_", " ").capitalize(), fmt.compact(v)))
    return rows


def describe_provenance(run: Run) -> list[tuple[str, str, str]]:
    r = run.results
    prov, model, task = r.provenance or {}, r.model or {}, r.task or {}

    def row(label: str, value: Any, shown: str | None = None) -> tuple[str, Any, str]:
        full = fmt.compact(value) if value not in (None, "") else fmt.MISSING
        if shown is None and isinstance(value, Mapping) and value:
            return (label, nested(value), full)  # a nested table, not a key=value wall
        return (label, shown if shown is not None and full != fmt.MISSING else full, full)

    libs = prov.get("libraries")
    libs_text = ", ".join(f"{k} {v}" for k, v in libs.items()) if isinstance(libs, Mapping) and libs else None
    rows = [
        row("Run directory", str(run.path)),
        row("pjbench version", prov.get("pjbench_version")),
        row("Git commit", prov.get("git_hash")),
        row("Model", model.get("name")),
        row("Checkpoint", model.get("checkpoint")),
        row("Checkpoint hash", model.get("checkpoint_hash"), fmt.short_hash(model.get("checkpoint_hash"))),
        row("Revision", model.get("revision")),
        row("Parameters", model.get("params"), fmt.params(model.get("params"))),
        row("Readouts", model.get("readouts")),
        row("Data root", task.get("data_root")),
        row("Data fingerprint", task.get("data_fingerprint"), fmt.short_hash(task.get("data_fingerprint"))),
        row("Seed", prov.get("seed")),
        row("Started", prov.get("started_at"), fmt.timestamp(prov.get("started_at"))),
        row("Finished", prov.get("finished_at"), fmt.timestamp(prov.get("finished_at"))),
        row("Wall time", prov.get("wall_time_s"), fmt.duration(prov.get("wall_time_s"))),
        row("Python", prov.get("python")),
        row("Platform", prov.get("platform")),
        row("Device", prov.get("device")),
        row("Libraries", libs_text),
        row("Command", prov.get("command")),
    ]
    known = {"pjbench_version", "git_hash", "seed", "started_at", "finished_at", "wall_time_s", "python",
             "platform", "device", "libraries", "command"}
    rows += [row(k.replace("_", " ").capitalize(), v) for k, v in prov.items() if k not in known]
    extra = model.get("extra")
    if isinstance(extra, Mapping) and extra:
        rows.append(row("Model extra", dict(extra)))
    return rows
