"""Synthetic IntPhys 2: procedural scenes written in the exact layout of the IntPhys 2 release.

Layout written under ``out_dir`` (see ``/work/shared/formats.md``)::

    Debug/metadata.csv    Debug/Videos/<64-hex>.mp4     each scene rendered 3 times (3 x 4 videos)
    Main/metadata.csv     Main/Videos/<64-hex>.mp4      4 videos per scene
    HeldOut/Videos/<64-hex>.mp4                         4 videos per scene, no metadata (like the release)
    suite.json                                          parameters, written last (marks a complete suite)

``metadata.csv`` has the release's columns in its order, rows in a seeded shuffled order, ``occluder`` is
the literal ``None`` for visible events, and ``SceneIndex`` includes a few suffixed ids (``7_0``, ``7_1``:
distinct scenes, as in the release). In Debug a SceneIndex has 12 rows: 3 renders x 4 types, so a
``(SceneIndex, run)`` key there holds 3 possible and 3 impossible videos (renders share every metadata
column; they differ in object colours and shapes, texture and distractors).

Quadruplets (the IntPhys design)
--------------------------------
Each scene yields two physically possible videos ``P1``, ``P2`` that share the camera, backdrop, blocks
and distractors and differ in one thing, plus two impossible videos spliced from them at one frame ``s``::

    1_Impossible = P1[:s] + P2[s:]        2_Impossible = P2[:s] + P1[s:]

So the four videos hold exactly the same frames, differently sequenced (no frame-level statistic tells
possible from impossible), and a matched pair ``(k_Possible, k_Impossible)`` is identical before ``s``.
The videos are lossless H.264, so this holds for the decoded files too. Objects slide slowly along the
floor (or a table top); what ``P1`` / ``P2`` are, per condition:

- **permanence**: P1 an object slides by; P2 the object is absent. I1: it vanishes; I2: it appears.
- **immutability**: P1 object A; P2 object B on the same path, always of another colour, half the time also
  of another shape (all shapes have equal area). I1 / I2: A turns into B / B into A.
- **continuity**: P2 = P1 moved back along its path by ``delta`` (the same motion, ``delta`` behind).
  Occluded: two walls ("Wall_2"), the far one hiding P1's object at ``s`` and the near one P2's, with a
  gap wider than the object between them. I1: the object goes behind the far wall and comes out of the
  near one, into the gap a second time; I2: it goes behind the near wall and comes out of the far one
  without ever crossing the gap. Visible: a jump of ``delta`` back / forward in view.
- **solidity**: a table stands on the floor. P1: the object slides along the table top; P2: along the
  floor under the table. I1: it sinks through the table top; I2: it rises through it. Occluded: a screen in
  front of the middle of the table hides both at ``s`` (the table shows on both sides of it).

Occluded (``occluder`` = ``Wall_1``, or ``Wall_2`` for the two walls of continuity): at frame ``s``
whatever differs between P1 and P2 is entirely behind a screen (>= 3 px inside its edges), so
``P1[s] == P2[s]`` exactly and the splice leaves no pixel discontinuity (checked at render time). Visible
(``occluder`` = ``None``): no screen, and the splice is a one-frame event the size of the object. All four
designs are exactly frame-identical quadruplets.

Motion: what a pixel predictor sees
-----------------------------------
The surprise readout compares frames up to a window apart (48 frames at 6 fps: 8 s), and a predictor that
copies the last context frame pays for the object's displacement since then: once that exceeds the
object's size, a moving object costs as much as a vanished or changed one and visible violations drown in
the motion. So objects move slowly across the view: 10-14 % of its width in a whole video (13-18 px at
128 px, about 0.12 px a frame), about their own size (disc radius 9-11 px, continuity 8-9 px; all shapes
have the area of that disc). A vanishing, a change of colour, a jump or a fall through the table then
changes more pixels than the motion over any window: visible violations are easy for low-level cues.

A slow object still goes behind a screen before the splice and comes out after it because the screens
drift against it by 24 % of the view width over a video: under a moving camera the camera follows the
object (a pan; the screens stand still in the world), under a fixed camera the screens slide. Either way
the object passes the screens by 34-38 % of the view, and more than half of it shows at both ends of an
occluded video. Screens are at least 22 % of the view wide, more than they drift during a readout window,
so what differs between P1 and P2 before the splice (on one side of a screen) and after it (on the other
side; for continuity, ``delta`` also keeps P1's last pass through the gap apart from P2's first) never
shares a pixel. For a predictor that works pixel by pixel, like copy-last, the extra loss of I1 over P1 in
a window that holds the splice is then exactly minus that of I2 over P2, and the windows after the splice
swap P1's and P2's losses: with the ``avg`` aggregation exactly one pair of each occluded quadruplet is
right, 50 % (up to the codec's 2 x 2 chroma subsampling, which does not flip a pair in practice).

The splice falls at 42-58 % of the video, so with the default readout every window holds frames after
it: matched videos never share a whole window (a ``max`` over windows does not tie by construction).

Difficulty: Easy = plain backdrop, Medium = textured backdrop, Hard = textured + 2 or 3 distractors
moving at constant speed in the upper part of the view (the same in all four videos). Camera: Fixed, or
Moving (a uniform pan over 24 % of the view width, following the object).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from pjbench.benchmarks.errors import PjbenchError
from pjbench.synthetic.render import render_scene
from pjbench.synthetic.world import (
    BACKDROP_COLORS,
    FLOOR_COLORS,
    OBJECT_COLORS,
    SCREEN_COLORS,
    SHAPES,
    WALL_COLORS,
    Backdrop,
    Block,
    Body,
    Scene,
    attach_to_camera,
    camera_pan,
    linear_track,
    mirror_scene,
    patrol_track,
    pick_color,
    random_body,
)

COLUMNS = ("SceneIndex", "name", "file_name", "game_name", "condition", "env", "type", "occluder", "Difficulty",
           "Camera")
TYPES = ("1_Possible", "1_Impossible", "2_Possible", "2_Impossible")
CONDITIONS = ("permanence", "immutability", "continuity", "solidity")
DIFFICULTIES = ("Easy", "Medium", "Hard")
CAMERAS = ("Fixed", "Moving")
SPLITS = ("Debug", "Main", "HeldOut")
LABELLED_SPLITS = ("Debug", "Main")  # HeldOut ships without metadata.csv, like the release
RENDERS = {"Debug": 3, "Main": 1, "HeldOut": 1}  # renders per scene
BASE_SCENES = {"Debug": 5, "Main": 32, "HeldOut": 8}  # scenes per split at scale 1
GENERATOR = "pjbench.synthetic.intphys2"
GENERATOR_VERSION = 2  # bump when the same parameters would give other videos

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SPLIT_CODE = {"Debug": 1, "Main": 2, "HeldOut": 3}  # seeds derive from these, keep them stable
FLOOR_Y = 0.8
# motion (see "Motion" in the module docstring); lengths in view widths, per whole video
TRAVEL = (0.1, 0.14)  # how far the object moves across the view: slow, less than its own size
PAN = 0.24  # how far screens drift against the object: the moving camera's pan, or a fixed camera's slide
MIN_SCREEN = 0.22  # narrowest screen: wider than its drift during a readout window (3/4 of a video)
SEPARATION = 0.06  # continuity: room between P1's last pass in the gap and P2's first (32-px blur included)
SPLICE_AT = (0.42, 0.58)  # where the splice falls (fraction of the video)
RADIUS = (0.07, 0.085)  # object size (every shape has the area of the disc of this radius)
RADIUS_CONTINUITY = (0.06, 0.07)  # smaller: two walls and a gap share the view
CRF = 0  # lossless H.264: the four files of a quadruplet decode to exactly the same frames
TEXTURE_AMP = 12.0  # std (RGB levels) of the Medium / Hard backdrop texture


@dataclass(frozen=True)
class SuiteSpec:
    """Parameters of a synthetic IntPhys 2 suite (everything the videos depend on).

    resolution: frame side in pixels (even, >= 32). n_frames / fps: video length in frames and its frame
    rate (the defaults, 128 frames at 12 fps, last 10.7 s like the release's 10.6 s). scale multiplies the
    number of scenes per split (Debug 5, Main 32, HeldOut 8 at scale 1; at least 1 each).
    """

    seed: int = 0
    scale: float = 1.0
    resolution: int = 128
    fps: int = 12
    n_frames: int = 128
    splits: tuple[str, ...] = SPLITS

    def __post_init__(self) -> None:
        object.__setattr__(self, "splits", tuple(self.splits))
        bad = [s for s in self.splits if s not in SPLITS]
        if bad or len(set(self.splits)) != len(self.splits) or not self.splits:
            raise PjbenchError(f"splits must be distinct names among {SPLITS}, got {self.splits}")
        if self.resolution < 32 or self.resolution % 2:
            raise PjbenchError(f"resolution must be even and >= 32 (H.264 yuv420p), got {self.resolution}")
        if self.n_frames < 24:
            raise PjbenchError(f"n_frames must be >= 24, got {self.n_frames}")
        if self.fps < 1:
            raise PjbenchError(f"fps must be >= 1, got {self.fps}")
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise PjbenchError(f"scale must be a positive number, got {self.scale}")

    @classmethod
    def tiny(cls, seed: int = 0, **overrides) -> "SuiteSpec":
        """Test size: 64 px, 48 frames, a quarter of the scenes (Main 8 = every condition x occluded/visible,
        Debug 1 x 3 renders, HeldOut 2): 52 videos, a few seconds to write."""
        params = dict(seed=seed, scale=0.25, resolution=64, n_frames=48)
        params.update(overrides)
        return cls(**params)

    def n_scenes(self, split: str) -> int:
        """Number of scenes of ``split`` (videos = 4 x renders x scenes)."""
        return max(1, round(BASE_SCENES[split] * self.scale))

    def n_videos(self, split: str) -> int:
        return 4 * RENDERS[split] * self.n_scenes(split)

    def to_json(self) -> dict:
        d = asdict(self)
        d["splits"] = list(self.splits)
        return d


@dataclass(frozen=True)
class SceneDesign:
    """What a scene shows (the metadata), before any randomness of geometry or looks.

    ``number`` is the scene's position in the split plan; every random draw for the scene derives from
    ``(seed, split, number)``, so adding scenes (a larger scale) never changes the earlier ones' design.
    """

    split: str
    number: int
    scene_index: str
    condition: str
    occluded: bool
    difficulty: str
    camera: str


@dataclass(frozen=True, eq=False)
class Quadruplet:
    """The two possible scenes of one render of one scene, and how to splice them (see module docstring)."""

    design: SceneDesign
    render: int
    possible: tuple[Scene, Scene]
    splice: int  # first frame taken from the other possible video
    occluder: str  # metadata value: "None" or the occluder's name
    env: str
    game_name: str

    def videos(self, resolution: int) -> dict[str, np.ndarray]:
        """The four videos, ``type -> uint8 (T, R, R, 3)``.

        Raises ``RuntimeError`` if an occluded splice would show, or a visible one would not (the geometry
        failed): a generator bug, which must never reach the data.
        """
        p1 = render_scene(self.possible[0], resolution)
        p2 = render_scene(self.possible[1], resolution)
        s = self.splice
        if self.design.occluded and not np.array_equal(p1[s], p2[s]):
            raise RuntimeError(f"occluded splice would be visible: {self.design}")
        if not self.design.occluded and np.abs(p1[s].astype(np.int16) - p2[s]).max() < 64:
            raise RuntimeError(f"visible splice would not show: {self.design}")
        return {
            "1_Possible": p1,
            "2_Possible": p2,
            "1_Impossible": np.concatenate([p1[:s], p2[s:]]),
            "2_Impossible": np.concatenate([p2[:s], p1[s:]]),
        }


# --- planning ------------------------------------------------------------------------------------------


def plan_split(spec: SuiteSpec, split: str) -> list[SceneDesign]:
    """The scenes of ``split``: the 8 cells conditions x {occluded, visible} in a seeded cycle; within a cell
    the (Difficulty, Camera) combinations rotate, so that 4 scenes of a cell cover all 3 difficulties and
    both cameras. SceneIndex labels are shuffled over the scenes, with suffixed pairs (``7_0``, ``7_1``)
    in Main."""
    n = spec.n_scenes(split)
    rng = np.random.default_rng([spec.seed, _SPLIT_CODE[split], 0])
    cells = [(c, occ) for c in CONDITIONS for occ in (True, False)]
    # cycle of the 8 cells: the 4 conditions first (so 4 scenes cover them all, e.g. Debug's 5), each
    # occluded or visible at random, then the same conditions the other way
    order = rng.permutation(len(CONDITIONS))
    occluded_first = rng.random(len(CONDITIONS)) < 0.5
    cycle = [(CONDITIONS[j], bool(occluded_first[j])) for j in order]
    cycle += [(CONDITIONS[j], not occluded_first[j]) for j in order]
    combos = [(d, cam) for cam in CAMERAS for d in DIFFICULTIES]  # index j: difficulty j % 3, camera j // 3
    labels = _scene_labels(n, rng, suffixed=split == "Main")
    label_order = rng.permutation(n)
    designs = []
    for i in range(n):
        condition, occluded = cycle[i % len(cycle)]
        c = cells.index((condition, occluded))
        k = i // len(cycle)  # how many scenes this cell already has
        difficulty, camera = combos[(c + 5 * k) % len(combos)]  # c, c+5, c+4, c+3, ...: all 6 in 6 scenes
        designs.append(SceneDesign(split, i, labels[label_order[i]], condition, occluded, difficulty, camera))
    return designs


def _scene_labels(n: int, rng: np.random.Generator, suffixed: bool) -> list[str]:
    """``n`` SceneIndex strings: ``0, 1, ...`` where a few numbers ``b`` are replaced by ``b_0, b_1``."""
    n_groups = max(1, n // 16) if suffixed and n >= 4 else 0
    bases = n - n_groups
    chosen = set(rng.choice(bases, size=n_groups, replace=False).tolist()) if n_groups else set()
    labels: list[str] = []
    for b in range(bases):
        labels.extend([f"{b}_0", f"{b}_1"] if b in chosen else [str(b)])
    return labels


def video_name(seed: int, design: SceneDesign, render: int, video_type: str) -> str:
    """The 64-hex ``name`` of a video (its leaderboard ``row_id``)."""
    key = f"{GENERATOR}|seed={seed}|{design.split}|{design.scene_index}|render={render}|{video_type}"
    return hashlib.sha256(key.encode()).hexdigest()


# --- scene construction --------------------------------------------------------------------------------


def build_quadruplet(spec: SuiteSpec, design: SceneDesign, render: int = 0) -> Quadruplet:
    """The quadruplet of one render of a scene (see the module docstring for the designs).

    Geometry, timing and backdrop colour (the ``env``) come from ``(seed, split, scene)``; the other looks
    (object colours and shapes, texture, distractors) from ``(seed, split, scene, render)``, so Debug's
    three renders of a scene share their metadata and their events (up to the size of the object's shape).
    """
    geo = np.random.default_rng([spec.seed, _SPLIT_CODE[design.split], 1, design.number])
    look = np.random.default_rng([spec.seed, _SPLIT_CODE[design.split], 2, design.number, render])
    T = spec.n_frames
    cond = design.condition
    direction = 1 if geo.random() < 0.5 else -1  # built moving right, mirrored at the end when -1
    pan = PAN if design.camera == "Moving" else 0.0
    camera_x = camera_pan(T, pan, 1)
    # how far the object moves across the view during the video; in the world it goes farther when the
    # camera follows it. Screens drift by PAN against it relative to the view: a moving camera pans past
    # them, or they slide in front of a fixed one, so the object passes them as fast under both cameras.
    travel_view = geo.uniform(*TRAVEL)
    world_travel = travel_view + pan
    travel = travel_view + PAN  # relative to the screens
    vx = world_travel / (T - 1)  # world speed (view units per frame)
    screen_vx = 0.0 if pan else -PAN / (T - 1)
    splice = int(round(geo.uniform(*SPLICE_AT) * (T - 1)))
    f = splice / (T - 1)  # fraction of the travel done before the splice
    radius = geo.uniform(*(RADIUS_CONTINUITY if cond == "continuity" else RADIUS))
    # a hidden body keeps 3 px inside the screen edges: 1 px of anti-aliased outline, 1 px of partly covered
    # screen edge, 1 px lost to the sub-pixel position of a panning camera or a sliding screen
    margin = 3.0 / spec.resolution

    bd_index = int(geo.integers(len(BACKDROP_COLORS)))  # the level (env): shared by a scene's renders
    textured = design.difficulty != "Easy"
    backdrop = Backdrop(
        wall_color=BACKDROP_COLORS[bd_index],
        floor_color=FLOOR_COLORS[int(look.integers(len(FLOOR_COLORS)))],
        floor_y=FLOOR_Y,
        texture_amp=TEXTURE_AMP if textured else 0.0,
        texture_seed=int(look.integers(2**31)),
    )
    screen_color = pick_color(look, SCREEN_COLORS, (backdrop.wall_color,), 60.0)
    body = random_body(look, radius, avoid=(backdrop.wall_color, screen_color))
    other = body
    if cond == "immutability":
        other_shape = body.shape
        if look.random() < 0.5:
            other_shape = [s for s in SHAPES if s != body.shape][int(look.integers(len(SHAPES) - 1))]
        # always another colour (a colour change covers the whole object, a shape change only its corners),
        # far from the first one and still standing out from the backdrop
        candidates = [c for c in OBJECT_COLORS
                      if math.dist(c, body.color) >= 150 and math.dist(c, backdrop.wall_color) >= 100]
        color = candidates[int(look.integers(len(candidates)))] if candidates else pick_color(
            look, OBJECT_COLORS, (body.color, backdrop.wall_color), 100.0)
        other = Body(other_shape, radius, color)
    half_width = max(body.half_width, other.half_width)
    tallest = max(b.above + b.below for b in (body, other))

    def world_x(x_view: float) -> float:
        """World x of the point at view x ``x_view`` at the splice."""
        return float(camera_x[splice]) + x_view

    def screen(name: str, x_mid: float, half: float, y_top: float = FLOOR_Y - tallest) -> Block:
        """A screen centred at ``x_mid`` at the splice, at least ``half`` wide on each side, hiding (with
        ``margin`` to spare) a body whose top is at ``y_top``."""
        half = max(half, MIN_SCREEN / 2)
        y0 = y_top - margin - geo.uniform(0.04, 0.1)
        x0 = x_mid - half - screen_vx * splice
        return Block(name, x0, x0 + 2 * half, y0, FLOOR_Y + margin + 0.02, screen_color, "screen", vx=screen_vx)

    blocks: list[Block] = []
    if cond in ("permanence", "immutability"):
        x_event = world_x(geo.uniform(0.42, 0.58) - travel_view * (f - 0.5))
        p1 = linear_track(body, T, x_event, splice, vx, FLOOR_Y - body.below)
        p2 = p1.absent() if cond == "permanence" else p1.with_body(other, floor_y=FLOOR_Y)
        if design.occluded:
            blocks.append(screen("Wall_1", x_event, half_width + margin + geo.uniform(0.0, 0.01)))
    elif cond == "continuity":
        half = max(half_width + margin + geo.uniform(0.0, 0.01), MIN_SCREEN / 2)
        # P2 runs delta behind P1: far enough that P1's last visit to the gap (before the splice) and P2's
        # first one (after it) never overlap, and that the whole object fits in the gap
        delta = max(2 * half + 2 * half_width, 2 * half_width + travel + SEPARATION) + geo.uniform(0.0, 0.02)
        # centre the span covered by the two objects in the view
        x_far = world_x(0.5 + delta / 2 - travel_view * (0.5 - f) + geo.uniform(-0.03, 0.03))
        p1 = linear_track(body, T, x_far, splice, vx, FLOOR_Y - body.below)
        p2 = p1.shifted(dx=-delta)
        if design.occluded:
            blocks += [screen("Wall_1", x_far - delta, half), screen("Wall_2", x_far, half)]
    elif cond == "solidity":
        # a table: P1 slides along its top, P2 along the floor under it
        thickness = geo.uniform(0.025, 0.035)
        top = FLOOR_Y - tallest - geo.uniform(0.03, 0.05) - thickness
        x_event = world_x(geo.uniform(0.42, 0.58) - travel_view * (f - 0.5))
        p2 = linear_track(body, T, x_event, splice, vx, FLOOR_Y - body.below)
        p1 = p2.shifted(dy=top - FLOOR_Y)
        leg = geo.uniform(0.02, 0.03)
        x0 = x_event - f * world_travel - half_width - leg - geo.uniform(0.03, 0.08)  # the legs clear P2's path
        x1 = x_event + (1 - f) * world_travel + half_width + leg + geo.uniform(0.03, 0.08)
        table_color = pick_color(look, WALL_COLORS, (backdrop.wall_color, body.color), 60.0)
        blocks += [
            Block("Table_top", x0, x1, top, top + thickness, table_color, "wall"),
            Block("Table_leg_1", x0, x0 + leg, top, FLOOR_Y + 0.005, table_color, "wall"),
            Block("Table_leg_2", x1 - leg, x1, top, FLOOR_Y + 0.005, table_color, "wall"),
        ]
        if design.occluded:
            blocks.append(screen("Wall_1", x_event, half_width + margin + geo.uniform(0.0, 0.01),
                                 y_top=top - (body.above + body.below)))
    else:  # pragma: no cover - plan_split only yields CONDITIONS
        raise ValueError(f"unknown condition {cond!r}")

    world_width = 1.0 + pan
    scenes = [Scene(T, backdrop, camera_x, world_width, tuple(blocks), (p,)) for p in (p1, p2)]
    if direction < 0:
        scenes = [mirror_scene(sc) for sc in scenes]
    if design.difficulty == "Hard":
        # distractors move in the upper band relative to the view (far away), at a constant speed and
        # reflecting at the view's edges: steady motion, the same in all four videos, never an event
        distractors = tuple(
            attach_to_camera(
                patrol_track(
                    Body(SHAPES[int(look.integers(3))], look.uniform(0.03, 0.045),
                         pick_color(look, OBJECT_COLORS, (backdrop.wall_color,), 100.0)),
                    T, x_min=0.05, x_max=0.95, x0=look.uniform(0.1, 0.9),
                    vx=look.choice([-1, 1]) * look.uniform(0.2, 0.5) / (T - 1), y=look.uniform(0.1, 0.22),
                ),
                scenes[0].camera_x,
            )
            for _ in range(int(look.integers(2, 4)))
        )
        scenes = [replace(sc, distractors=distractors) for sc in scenes]

    n_walls = sum(b.layer == "screen" for b in blocks)
    occluder = f"Wall_{n_walls}" if design.occluded else "None"
    env = f"{'Textured' if textured else 'Basic'}Level_{bd_index}"
    game = f"{design.camera}{'Occluded' if design.occluded else 'Open'}{cond.capitalize()}"
    return Quadruplet(design, render, (scenes[0], scenes[1]), splice, occluder, env, game)


# --- writing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """One render of one scene: four videos to write."""

    spec: SuiteSpec
    design: SceneDesign
    render: int
    videos_dir: str


def _run_job(job: _Job) -> list[dict[str, str]]:
    """Render and encode the four videos of ``job``; return their metadata rows."""
    from pjbench.benchmarks.video import write_video

    quad = build_quadruplet(job.spec, job.design, job.render)
    rows = []
    for video_type, frames in quad.videos(job.spec.resolution).items():
        name = video_name(job.spec.seed, job.design, job.render, video_type)
        write_video(Path(job.videos_dir) / f"{name}.mp4", frames, fps=job.spec.fps, crf=CRF)
        d = job.design
        rows.append(dict(SceneIndex=d.scene_index, name=name, file_name=f"Videos/{name}.mp4",
                         game_name=quad.game_name, condition=d.condition, env=quad.env, type=video_type,
                         occluder=quad.occluder, Difficulty=d.difficulty, Camera=d.camera))
    return rows


def _jobs(spec: SuiteSpec, out: Path) -> Iterator[_Job]:
    for split in spec.splits:
        for design in plan_split(spec, split):
            for render in range(RENDERS[split]):
                yield _Job(spec, design, render, str(out / split / "Videos"))


def metadata_csv(spec: SuiteSpec, split: str, rows: list[dict[str, str]]) -> str:
    """The text of ``metadata.csv``: header + rows in a seeded shuffled order (loaders must not rely on it)."""
    rows = sorted(rows, key=lambda r: r["name"])  # canonical order first: independent of job completion order
    order = np.random.default_rng([spec.seed, _SPLIT_CODE[split], 3]).permutation(len(rows))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows[i] for i in order)
    return buf.getvalue()


def write_suite(out_dir: str | os.PathLike, spec: SuiteSpec, *, progress: bool = True, overwrite: bool = False,
                workers: int | None = None) -> Path:
    """Write the suite ``spec`` under ``out_dir``; see :func:`pjbench.synthetic.write_intphys2_suite`.

    A ``.suite-partial.json`` marker lives in ``out_dir`` while writing: a later call that finds it (an
    interrupted run) knows the split folders are its own to replace.
    """
    out = Path(out_dir)
    manifest_path = out / "suite.json"
    partial_path = out / ".suite-partial.json"
    wanted = _manifest(spec)
    if manifest_path.is_file():
        found = _read_json(manifest_path)
        if found.get("spec") == wanted["spec"] and found.get("generator") == wanted["generator"]:
            if _complete(out, spec):
                return out
        elif not overwrite:
            raise PjbenchError(
                f"{out} holds a synthetic suite written with other parameters ({_describe(found)}; asked: "
                f"{_describe(wanted)}). Pass overwrite=True (CLI: --overwrite) to replace it, or choose another directory."
            )
    elif not partial_path.is_file() and not overwrite:
        # neither a suite of ours nor an interrupted run of ours: do not delete somebody else's files
        foreign = [s for s in SPLITS if (out / s).exists() and any((out / s).iterdir())]
        if foreign:
            raise PjbenchError(
                f"{out} already holds {', '.join(foreign)} folders that are not a synthetic suite (no "
                "suite.json). Choose an empty directory, or pass overwrite=True (CLI: --overwrite) to replace them."
            )

    out.mkdir(parents=True, exist_ok=True)
    manifest_path.unlink(missing_ok=True)
    for split in SPLITS:  # only the folders this writer owns
        if (out / split).exists():
            shutil.rmtree(out / split)
    _write_text(partial_path, json.dumps(wanted, indent=2))

    jobs = list(_jobs(spec, out))
    for split in spec.splits:
        (out / split / "Videos").mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict[str, str]]] = {split: [] for split in spec.splits}
    from tqdm.auto import tqdm

    with tqdm(total=4 * len(jobs), unit="video", desc="synthetic IntPhys 2", disable=not progress) as bar:
        for job, job_rows in zip(jobs, _map(_run_job, jobs, workers)):
            rows[job.design.split].extend(job_rows)
            bar.update(len(job_rows))

    for split in spec.splits:
        if split in LABELLED_SPLITS:
            _write_text(out / split / "metadata.csv", metadata_csv(spec, split, rows[split]))
    _write_text(manifest_path, json.dumps(wanted, indent=2) + "\n")  # last: marks the suite complete
    partial_path.unlink(missing_ok=True)
    return out


def _map(fn, jobs: list[_Job], workers: int | None) -> Iterator[list[dict[str, str]]]:
    """``map(fn, jobs)`` in order, over ``workers`` threads (default: up to 4 CPUs; 1 = no thread).

    Threads, not processes: x264 and the larger numpy operations release the GIL, and a process pool
    would need an ``if __name__ == "__main__"`` guard in every caller's script (spawn) or risk forking a
    process that holds torch's thread pools.
    """
    if workers is None:
        workers = min(4, os.cpu_count() or 1)
    if workers <= 1 or len(jobs) < 2:
        yield from map(fn, jobs)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pjbench-synthetic") as pool:
        yield from pool.map(fn, jobs)


def _manifest(spec: SuiteSpec) -> dict:
    """Contents of ``suite.json``: what wrote the suite, its parameters, and the videos per split."""
    return {
        "generator": f"{GENERATOR} v{GENERATOR_VERSION}",
        "format": "IntPhys 2 release layout",
        "spec": spec.to_json(),
        "videos": {split: spec.n_videos(split) for split in spec.splits},
    }


def _complete(out: Path, spec: SuiteSpec) -> bool:
    """Every split has its videos (and its metadata.csv where the release has one)."""
    for split in spec.splits:
        videos = out / split / "Videos"
        n_found = sum(1 for p in videos.glob("*.mp4") if _HEX64.fullmatch(p.stem)) if videos.is_dir() else 0
        if n_found != spec.n_videos(split):
            return False
        if split in LABELLED_SPLITS and not (out / split / "metadata.csv").is_file():
            return False
    return True


def _describe(manifest: dict) -> str:
    spec = manifest.get("spec") or {}
    return ", ".join(f"{k}={v}" for k, v in spec.items()) + f", {manifest.get('generator', '?')}"


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PjbenchError(f"{path}: unreadable suite manifest ({exc}); delete it or pass overwrite=True (CLI: --overwrite)") from exc
    return data if isinstance(data, dict) else {}


def _write_text(path: Path, text: str) -> None:
    """Atomic write (tmp file + rename): an interrupted run never leaves a half-written manifest or csv."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
