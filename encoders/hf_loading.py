"""Loading transformers checkpoints safely and quietly: safetensors only (unless the user opts in), the
folder's ``model_type`` checked before anything loads, and transformers' own load report captured.

- **Pickled weights** (``pytorch_model.bin``, ``*.pt``/``*.pth`` in an HF folder) are refused with an
  ``Error:`` saying why (unpickling can run code) and how to convert them, unless the model argument
  ``allow_pickle=true`` (``--model-arg allow_pickle=true``) says the user trusts the file. Hub ids load
  with ``use_safetensors=True`` likewise.
- **Another architecture's folder** (a VideoMAE folder given to ``vjepa2``) is refused from its
  ``config.json`` (``model_type``) in one line, before transformers prints its 70-line load report.
- transformers' warnings and load report during ``from_pretrained`` are captured (logging verbosity
  ``error`` for the call, stdout/stderr prints redirected); when loading fails, the error names the folder.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any, Iterator

from pjbench.benchmarks.errors import PjbenchError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")

__all__ = ["PICKLE_SUFFIXES", "check_model_type", "check_weight_files", "from_pretrained_quiet", "quiet_transformers"]


def check_weight_files(local: Path, family: str, allow_pickle: bool = False) -> None:
    """Refuse an HF folder whose only weights are pickles unless ``allow_pickle``."""
    files = [p for p in local.iterdir() if p.is_file()]
    if any(p.name.endswith(".safetensors") for p in files):
        return
    pickles = sorted(p.name for p in files if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles and not allow_pickle:
        raise PjbenchError(
            f"{local}: the {family} weights are pickled ({', '.join(pickles[:3])}); pjbench loads safetensors "
            "only, since unpickling a file can run code. Convert them once where you trust the file "
            "(`python -c \"from transformers import AutoModel as M; M.from_pretrained('DIR').save_pretrained('DIR-st')\"` "
            "writes model.safetensors), or pass --model-arg allow_pickle=true to load them as they are")


def check_model_type(local: Path, family: str, model_types: tuple[str, ...]) -> dict[str, Any]:
    """``config.json`` of ``local``; an error naming the folder when its ``model_type`` is not one of ``model_types``."""
    path = local / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PjbenchError(f"{local}: not a transformers checkpoint directory (no config.json)") from None
    except (OSError, ValueError) as exc:
        raise PjbenchError(f"{path}: cannot read ({exc})") from None
    kind = config.get("model_type")
    if kind not in model_types:
        raise PjbenchError(f"{local}: config.json says model_type {kind!r}: a {kind or 'unknown'} checkpoint, "
                           f"not {family} ({' / '.join(model_types)})")
    return config


@contextlib.contextmanager
def quiet_transformers() -> Iterator[io.StringIO]:
    """Silence transformers' logging (to errors) and capture prints for the block; yields the captured text."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    buffer = io.StringIO()
    hf_logging.set_verbosity_error()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        hf_logging.set_verbosity(previous)


def from_pretrained_quiet(model_cls: Any, source: str, *, allow_pickle: bool = False, **kwargs: Any) -> Any:
    """``model_cls.from_pretrained(source, ...)`` with safetensors required unless ``allow_pickle``, quietly."""
    with quiet_transformers():
        return model_cls.from_pretrained(source, use_safetensors=None if allow_pickle else True, **kwargs)
