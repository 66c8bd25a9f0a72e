"""Embedded synthetic suites: a procedural, seeded 2-D physics world rendered with numpy.

They let every encoder and readout run end to end without downloads (a conformance check, like MTEB's
mock tasks), and they carry a known answer: visible violations are easy for a pixel-level predictor,
occluded ones are not. Modules: :mod:`~pjbench.synthetic.world` (scenes as data),
:mod:`~pjbench.synthetic.render` (numpy renderer), :mod:`~pjbench.synthetic.intphys2` (IntPhys 2 writer),
:mod:`~pjbench.synthetic.mvpbench` (MVPBench writer), :mod:`~pjbench.synthetic.causalvqa` (CausalVQA writer).
The world knows no model and no benchmark loader.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from pjbench.synthetic.intphys2 import SuiteSpec, write_suite

__all__ = ["SuiteSpec", "write_intphys2_suite", "write_mvpbench_suite", "write_causalvqa_suite"]


def write_intphys2_suite(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    scale: float = 1.0,
    resolution: int = 128,
    fps: int = 12,
    n_frames: int = 128,
    splits: Sequence[str] = ("Debug", "Main", "HeldOut"),
    progress: bool = True,
    overwrite: bool = False,
    workers: int | None = None,
) -> Path:
    """Write a synthetic IntPhys 2 suite in the release layout under ``out_dir``; return ``Path(out_dir)``.

    ``out_dir/{Debug,Main}/metadata.csv``, ``out_dir/<split>/Videos/<64-hex>.mp4`` (lossless H.264,
    ``resolution`` square, ``n_frames`` frames at ``fps``), ``out_dir/HeldOut/Videos`` without metadata, and
    ``out_dir/suite.json`` last. At the defaults: Debug 5 scenes x 3 renders (60 videos), Main 32 scenes
    (128 videos), HeldOut 8 scenes (32 videos); ``scale`` multiplies the scene counts. Same ``seed``: same
    metadata bytes and same decoded frames.

    Idempotent: a complete suite with the same parameters (``suite.json``) is returned as is, even with
    ``overwrite`` (delete ``suite.json`` to force a rewrite). A suite with other parameters, or
    ``Debug``/``Main``/``HeldOut`` folders not written by this function, raise
    :class:`~pjbench.benchmarks.errors.PjbenchError` unless ``overwrite=True``, which replaces those three
    folders and nothing else. An interrupted run is redone from scratch by the next call.

    ``workers``: threads rendering and encoding (default: up to 4 CPUs; 1 = none). The default suite takes
    about 17 s on 2 CPU cores and 30 MB.
    """
    spec = SuiteSpec(seed=seed, scale=scale, resolution=resolution, fps=fps, n_frames=n_frames,
                     splits=tuple(splits))
    return write_suite(out_dir, spec, progress=progress, overwrite=overwrite, workers=workers)


def write_mvpbench_suite(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    scale: float = 1.0,
    resolution: int = 64,
    fps: int = 8,
    n_frames: int = 24,
    missing_fraction: float = 0.1,
    progress: bool = True,
    overwrite: bool = False,
    workers: int | None = None,
) -> Path:
    """Write a synthetic MVPBench release (minimal video pairs) under ``out_dir``; return ``Path(out_dir)``.

    ``out_dir/<config>/{full,mini}-00000-of-00001.parquet`` for the 4 configs (all-string columns
    ``video_id, video_path, question, answer, candidates, source``), ``out_dir/videos/<source>/*.mp4``
    (lossless H.264, ``resolution`` square, ``n_frames`` at ``fps``), and ``out_dir/suite.json`` last,
    listing the videos deliberately left out (``missing_fraction`` of each config's pairs lose one or both
    videos). At the defaults: 24 pairs per config (mini 8), ``scale`` multiplies them; about 5 s on 2 CPU
    cores. Same ``seed``: same parquet content and same decoded frames. Idempotence and ``overwrite`` as
    :func:`write_intphys2_suite` (the owned entries are the config folders and ``videos``). See
    :mod:`pjbench.synthetic.mvpbench` for the scene templates.
    """
    from pjbench.synthetic.mvpbench import MVPSuiteSpec
    from pjbench.synthetic.mvpbench import write_suite as write_mvp

    spec = MVPSuiteSpec(seed=seed, scale=scale, resolution=resolution, fps=fps, n_frames=n_frames,
                        missing_fraction=missing_fraction)
    return write_mvp(out_dir, spec, progress=progress, overwrite=overwrite, workers=workers)


def write_causalvqa_suite(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    scale: float = 1.0,
    resolution: int = 64,
    fps: int = 8,
    n_frames: int = 24,
    progress: bool = True,
    overwrite: bool = False,
    workers: int | None = None,
) -> Path:
    """Write a synthetic CausalVQA release under ``out_dir`` (the folder the zip unpacks into); return
    ``Path(out_dir)``.

    ``out_dir/CausalVQA/{debug,test}/{split}_metadata.csv`` (columns ``qid, type, question, choices1,
    correct1, choices2, correct2, difficulty, renamed_video``; 5 options ``N. text`` joined by ``" | "``;
    answers blank in test) and ``out_dir/CausalVQA/<split>/videos/*.mp4``, then ``out_dir/suite.json``. At
    the defaults: debug 75 questions (15 per type), test 25, one video each; ``scale`` multiplies them
    (kept a multiple of 5 per type, so the difficulties stay balanced, down to 5; the right answer is drawn at
    random per question). Idempotence and ``overwrite`` as
    :func:`write_intphys2_suite` (the owned entry is ``CausalVQA``). See :mod:`pjbench.synthetic.causalvqa`.
    """
    from pjbench.synthetic.causalvqa import CausalVQASuiteSpec
    from pjbench.synthetic.causalvqa import write_suite as write_cvqa

    spec = CausalVQASuiteSpec(seed=seed, scale=scale, resolution=resolution, fps=fps, n_frames=n_frames)
    return write_cvqa(out_dir, spec, progress=progress, overwrite=overwrite, workers=workers)
