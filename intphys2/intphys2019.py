"""The original IntPhys (Riochet et al., 2019) dev set, read into the same items as IntPhys 2.

Layout (the ``dev/`` folder of the release, or a folder containing ``dev/``)::

    dev/O1/<scene>/<movie 1..4>/status.json     header.is_possible: true | false
    dev/O1/<scene>/<movie 1..4>/scene/*.png     288x288 RGB frames (100 per movie)
    dev/O2/...   dev/O3/...

A scene is a *quadruplet*: two possible and two impossible movies made of exactly the same frames in
a different order, so only a model of what persists behind the occluder separates them. Here the
quadruplet is one pair id (``O1/07``) with 2 possible + 2 impossible videos: pairwise accuracy then
averages the 4 (possible, impossible) comparisons of the scene, as for IntPhys 2 Debug renders.

There is no video file: ``VideoItem.path`` is the ``scene/`` frame folder, and frames are read with
:func:`read_frame_folder` (PyAV decodes the PNGs; no imaging library needed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from pjbench.benchmarks.errors import DataError, VideoError
from pjbench.benchmarks.tasks import VideoItem
from pjbench.intphys2.loader import limit_items, natural_key

__all__ = ["BLOCKS", "CONDITIONS", "load_dev", "read_frame_folder"]

BLOCKS = ("O1", "O2", "O3")
# The IntPhys 2019 blocks test the principles IntPhys 2 calls permanence, immutability, continuity.
CONDITIONS = {"O1": "permanence", "O2": "immutability", "O3": "continuity"}
MOVIES = ("1", "2", "3", "4")
SPLIT = "dev"


def _resolve_dev_root(data_root: str | os.PathLike) -> Path:
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise DataError("IntPhys 2019 data root not found", path=root)
    if not any((root / b).is_dir() for b in BLOCKS) and (root / SPLIT).is_dir():
        root = root / SPLIT
    if not any((root / b).is_dir() for b in BLOCKS):
        raise DataError(
            f"no {', '.join(BLOCKS)} folders here or in {SPLIT}/ (expected the IntPhys dev release)", path=root
        )
    return root


def _is_possible(status: Path) -> int:
    try:
        header = json.loads(status.read_text(encoding="utf-8"))["header"]
        value = header["is_possible"]
    except FileNotFoundError:
        raise DataError("status.json not found (it holds the label)", path=status) from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read header.is_possible ({type(exc).__name__}: {exc})", path=status) from None
    # The official loader defaults a missing label to "possible"; a wrong label is worse than an error.
    if not isinstance(value, bool):
        raise DataError(f"header.is_possible must be true or false, got {value!r}", path=status)
    return int(value)


def load_dev(
    data_root: str | os.PathLike, blocks: tuple[str, ...] = BLOCKS, limit: int | None = None
) -> list[VideoItem]:
    """Items of the IntPhys 2019 dev set, ordered by block, scene, movie.

    ``name`` = ``O1/07/3``; ``path`` = that movie's ``scene/`` frame folder; ``pair_id`` = ``cluster`` =
    ``O1/07`` (the quadruplet); ``strata`` = ``{"block": "O1", "condition": "permanence"}``. Blocks
    not downloaded are skipped (at least one must exist). ``limit`` keeps the first ``limit``
    quadruplets. Raises :class:`DataError` naming the movie folder if a movie, its frames or its label
    is missing.
    """
    root = _resolve_dev_root(data_root)
    items: list[VideoItem] = []
    for block in blocks:
        if block not in BLOCKS:
            raise DataError(f"unknown IntPhys 2019 block {block!r}; choose from {', '.join(BLOCKS)}", path=root)
        block_dir = root / block
        if not block_dir.is_dir():
            continue
        for scene_dir in sorted((p for p in block_dir.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
            quad = f"{block}/{scene_dir.name}"
            for movie in MOVIES:
                movie_dir = scene_dir / movie
                frames = movie_dir / "scene"
                if not frames.is_dir():
                    raise DataError("missing scene/ frame folder (a quadruplet needs movies 1-4)", path=movie_dir)
                items.append(
                    VideoItem(
                        name=f"{quad}/{movie}",
                        path=frames.absolute(),
                        split=SPLIT,
                        label=_is_possible(movie_dir / "status.json"),
                        pair_id=quad,
                        cluster=quad,
                        strata={"block": block, "condition": CONDITIONS[block]},
                    )
                )
    return limit_items(items, limit)


def read_frame_folder(
    path: str | os.PathLike, frame_step: int = 1, max_frames: int | None = None
) -> np.ndarray:
    """Frames ``0, frame_step, ...`` of a folder of PNGs (natural file-name order) as ``uint8 (T, H, W, 3)``.

    The frame-folder counterpart of :func:`pjbench.benchmarks.video.decode_video`. Raises
    :class:`VideoError` naming the folder or file that is missing, empty or undecodable, or frames of
    different sizes.
    """
    import av

    path = Path(path)
    if frame_step < 1:
        raise ValueError(f"frame_step must be >= 1, got {frame_step}")
    if not path.is_dir():
        raise VideoError("frame folder not found", path=path)
    files = sorted(path.glob("*.png"), key=lambda p: natural_key(p.name))[::frame_step]
    if max_frames is not None:
        files = files[:max_frames]
    if not files:
        raise VideoError("no .png frames in folder", path=path)
    frames = []
    for f in files:
        try:
            with av.open(str(f)) as container:
                frame = next(container.decode(video=0))
                frames.append(frame.to_ndarray(format="rgb24"))
        except Exception as exc:  # av raises many types; name the file
            raise VideoError(f"cannot decode frame ({type(exc).__name__}: {exc})", path=f) from exc
    if len({fr.shape for fr in frames}) > 1:
        raise VideoError(f"frames differ in size: {sorted({fr.shape for fr in frames})}", path=path)
    return np.stack(frames)
