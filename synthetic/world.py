"""A procedural 2-D physics world as plain data: bodies, their tracks, fixed blocks, backdrop, camera.

Units and axes (used everywhere in :mod:`pjbench.synthetic`):

- space is in **view units**: the camera view is the unit square, ``x`` to the right, ``y`` downwards,
  ``1.0`` = view width = view height. A scene's world can be wider than the view (``world_width > 1``)
  so that a moving camera has something to pan over; world and view share the same ``y``.
- time is in **frames** ``0 .. n_frames - 1``; speeds are view units per frame.
- colours are RGB floats in ``[0, 255]``.

Nothing here knows about pixels, files or benchmarks: :mod:`pjbench.synthetic.render` turns a
:class:`Scene` into frames, and the benchmark writers (``intphys2.py``, later MVPBench / CausalVQA) decide
which scenes to build. Everything is deterministic: randomness enters only through the ``numpy`` generators
that the writers pass to the helpers here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

Color = tuple[float, float, float]
Shape = Literal["disc", "square", "triangle"]
SHAPES: tuple[Shape, ...] = ("disc", "square", "triangle")

# Saturated colours for the objects that matter, muted ones for what surrounds them: objects must stand
# out so that a change of colour or a jump is a large pixel event.
OBJECT_COLORS: tuple[Color, ...] = (
    (220, 40, 40),  # red
    (40, 170, 60),  # green
    (40, 80, 225),  # blue
    (240, 205, 40),  # yellow
    (200, 50, 200),  # magenta
    (30, 200, 215),  # cyan
    (245, 130, 30),  # orange
    (245, 245, 245),  # white
    (25, 25, 30),  # black
)
OBJECT_COLOR_NAMES: tuple[str, ...] = ("red", "green", "blue", "yellow", "magenta", "cyan", "orange", "white", "black")
BACKDROP_COLORS: tuple[Color, ...] = (
    (165, 168, 175),
    (190, 180, 160),
    (150, 165, 185),
    (175, 190, 168),
    (128, 124, 136),
)
FLOOR_COLORS: tuple[Color, ...] = ((95, 90, 85), (120, 105, 90), (85, 95, 105), (105, 115, 95))
SCREEN_COLORS: tuple[Color, ...] = ((112, 84, 60), (70, 88, 120), (150, 125, 95), (80, 80, 84), (60, 110, 100))
WALL_COLORS: tuple[Color, ...] = ((120, 60, 50), (70, 70, 75), (95, 80, 110))

# Shape constants chosen so that all shapes have the area of the disc of the same radius: changing the
# shape alone then changes the outline, not the amount of colour on screen.
_SQUARE_HALF = math.sqrt(math.pi) / 2  # half side / radius  (side^2 = pi r^2)
_TRIANGLE_HALF = math.sqrt(math.pi / math.sqrt(3))  # half side / radius (sqrt(3) a^2 = pi r^2, a = half side)


def color_distance(a: Color, b: Color) -> float:
    """Euclidean RGB distance, in [0, 441]."""
    return float(math.dist(a, b))


@dataclass(frozen=True)
class Body:
    """A rigid object: ``shape``, ``radius`` (view units; every shape has the area of this disc), colour."""

    shape: Shape
    radius: float
    color: Color

    @property
    def half_width(self) -> float:
        """Horizontal half extent (view units)."""
        if self.shape == "square":
            return _SQUARE_HALF * self.radius
        if self.shape == "triangle":
            return _TRIANGLE_HALF * self.radius
        return self.radius

    @property
    def above(self) -> float:
        """Distance from the centre to the topmost point (view units)."""
        if self.shape == "square":
            return _SQUARE_HALF * self.radius
        if self.shape == "triangle":
            return 2 * _TRIANGLE_HALF * self.radius / math.sqrt(3)
        return self.radius

    @property
    def below(self) -> float:
        """Distance from the centre to the lowest point (view units): a body resting on a floor at
        ``floor_y`` has its centre at ``floor_y - below``."""
        if self.shape == "square":
            return _SQUARE_HALF * self.radius
        if self.shape == "triangle":
            return _TRIANGLE_HALF * self.radius / math.sqrt(3)
        return self.radius


@dataclass(frozen=True, eq=False)
class Track:
    """A body through time: centre ``xy`` (``float64 (T, 2)``, world view units) and ``present`` (``bool (T,)``).

    A track that is not present in a frame is simply not drawn (it does not exist, it is not hidden).
    """

    body: Body
    xy: np.ndarray
    present: np.ndarray

    def __post_init__(self) -> None:
        if self.xy.ndim != 2 or self.xy.shape[1] != 2 or self.present.shape != (self.xy.shape[0],):
            raise ValueError(f"track shapes disagree: xy {self.xy.shape}, present {self.present.shape}")

    @property
    def n_frames(self) -> int:
        return int(self.xy.shape[0])

    def with_body(self, body: Body, floor_y: float | None = None) -> "Track":
        """Same motion with another body; with ``floor_y`` the centre is re-seated so the body rests on it."""
        xy = self.xy.copy()
        if floor_y is not None:
            xy[:, 1] = floor_y - body.below
        return Track(body, xy, self.present.copy())

    def absent(self) -> "Track":
        """The same track, never present."""
        return Track(self.body, self.xy.copy(), np.zeros_like(self.present))

    def shifted(self, dx: float = 0.0, dy: float = 0.0) -> "Track":
        """Translated by ``(dx, dy)`` view units."""
        return Track(self.body, self.xy + np.array([dx, dy]), self.present.copy())

    def mirrored(self, axis_x: float) -> "Track":
        """Reflected about the vertical line ``x = axis_x``."""
        xy = self.xy.copy()
        xy[:, 0] = 2 * axis_x - xy[:, 0]
        return Track(self.body, xy, self.present.copy())


@dataclass(frozen=True)
class Block:
    """An axis-aligned rectangle in the world: ``x0 < x1``, ``y0 < y1`` in world view units (at frame 0).

    ``layer="wall"``: a solid object in the plane of the tracks, drawn before them (bodies bounce off it or
    rest on it, never overlap it); always fixed. ``layer="screen"``: an occluder standing in front of the
    tracks, drawn after them, so that a body inside its rectangle is entirely hidden. A screen may slide
    horizontally at a constant ``vx`` (world view units per frame): at frame ``t`` it spans
    ``[x0 + vx t, x1 + vx t]``.
    """

    name: str
    x0: float
    x1: float
    y0: float
    y1: float
    color: Color
    layer: Literal["wall", "screen"] = "screen"
    vx: float = 0.0

    def __post_init__(self) -> None:
        if self.vx and self.layer != "screen":
            raise ValueError(f"only screens slide, got a moving {self.layer!r} block {self.name!r}")


@dataclass(frozen=True)
class Backdrop:
    """What is behind everything: back wall above ``floor_y``, floor below it.

    ``texture_amp`` > 0 adds a smooth procedural texture (sum of random plane waves, seeded by
    ``texture_seed``) of that amplitude (RGB levels) to both; 0 gives plain colours.
    """

    wall_color: Color
    floor_color: Color
    floor_y: float = 0.8
    texture_amp: float = 0.0
    texture_seed: int = 0


@dataclass(frozen=True, eq=False)
class Scene:
    """Everything needed to render one video.

    ``camera_x``: ``float64 (T,)``, world x of the view's left edge per frame (constant = fixed camera).
    Depth order, back to front: backdrop, ``wall`` blocks, ``tracks``, ``screen`` blocks (fixed ones, then
    sliding ones), ``distractors``
    (distractors move in their own band of the view, so that order never matters for them).
    """

    n_frames: int
    backdrop: Backdrop
    camera_x: np.ndarray
    world_width: float = 1.0
    blocks: tuple[Block, ...] = ()
    tracks: tuple[Track, ...] = ()
    distractors: tuple[Track, ...] = ()

    def __post_init__(self) -> None:
        if self.camera_x.shape != (self.n_frames,):
            raise ValueError(f"camera_x must have shape ({self.n_frames},), got {self.camera_x.shape}")
        for track in (*self.tracks, *self.distractors):
            if track.n_frames != self.n_frames:
                raise ValueError(f"track has {track.n_frames} frames, scene has {self.n_frames}")
        if self.camera_x.min() < 0 or self.camera_x.max() + 1.0 > self.world_width + 1e-9:
            raise ValueError("the camera leaves the world")

    def with_tracks(self, tracks: tuple[Track, ...]) -> "Scene":
        """The same scene (backdrop, blocks, camera, distractors) with other main tracks."""
        return replace(self, tracks=tuple(tracks))


# --- motion ------------------------------------------------------------------------------------------


def linear_track(body: Body, n_frames: int, x_at: float, t_at: float, vx: float, y: float) -> Track:
    """Uniform horizontal motion: ``x(t) = x_at + vx (t - t_at)`` at height ``y``, present throughout."""
    t = np.arange(n_frames, dtype=np.float64)
    xy = np.stack([x_at + vx * (t - t_at), np.full(n_frames, y)], axis=1)
    return Track(body, xy, np.ones(n_frames, dtype=bool))


def bounce_track(
    body: Body, n_frames: int, x_contact: float, t_contact: float, vx: float, y: float, restitution: float
) -> Track:
    """Uniform motion at ``vx`` that reaches ``x_contact`` at frame ``t_contact`` and comes back with speed
    ``restitution * |vx|``: a bounce off a wall at ``x_contact`` (restitution < 1 damped, 1 elastic,
    > 1 a springy wall that gives energy, like a pinball bumper)."""
    t = np.arange(n_frames, dtype=np.float64)
    dt = t - t_contact
    x = np.where(dt <= 0, x_contact + vx * dt, x_contact - restitution * vx * dt)
    xy = np.stack([x, np.full(n_frames, y)], axis=1)
    return Track(body, xy, np.ones(n_frames, dtype=bool))


def patrol_track(
    body: Body, n_frames: int, x_min: float, x_max: float, x0: float, vx: float, y: float, wobble: float = 0.0,
    phase: float = 0.0,
) -> Track:
    """Back-and-forth motion between ``x_min`` and ``x_max`` (reflecting at the ends) starting at ``x0``
    with speed ``vx``, plus a vertical sine of amplitude ``wobble`` (period 48 frames). Used for distractors:
    smooth everywhere, so they add motion but never a one-frame event."""
    t = np.arange(n_frames, dtype=np.float64)
    span = x_max - x_min
    u = np.mod(x0 - x_min + vx * t, 2 * span)  # unfolded position on a circle of length 2 * span
    x = x_min + np.where(u <= span, u, 2 * span - u)
    yy = y + wobble * np.sin(2 * np.pi * t / 48.0 + phase)
    return Track(body, np.stack([x, yy], axis=1), np.ones(n_frames, dtype=bool))


def keyframe_track(body: Body, n_frames: int, keys) -> Track:
    """Piecewise-linear motion through keyframes ``(t, x, y)`` (``t`` in frames, strictly increasing; ``x``,
    ``y`` world view units): the body rests at the first keyframe before it and at the last one after it.
    Present throughout. Used by the QA writers for scripted pushes, stops and lifts."""
    k = np.asarray(keys, dtype=np.float64)
    if k.ndim != 2 or k.shape[1] != 3 or len(k) == 0 or np.any(np.diff(k[:, 0]) <= 0):
        raise ValueError(f"keyframes must be (t, x, y) rows with strictly increasing t, got {k.tolist()}")
    t = np.arange(n_frames, dtype=np.float64)
    xy = np.stack([np.interp(t, k[:, 0], k[:, 1]), np.interp(t, k[:, 0], k[:, 2])], axis=1)
    return Track(body, xy, np.ones(n_frames, dtype=bool))


def attach_to_camera(track: Track, camera_x: np.ndarray) -> Track:
    """A track given relative to the view (``x`` in view units from its left edge) moved into world
    coordinates: it follows the camera, like something far away (distractors)."""
    offset = np.stack([camera_x, np.zeros_like(camera_x)], axis=1)
    return Track(track.body, track.xy + offset, track.present.copy())


def mirror_scene(scene: Scene) -> Scene:
    """``scene`` reflected left-right about the middle of its world (tracks, blocks and camera)."""
    w = scene.world_width
    blocks = tuple(replace(b, x0=w - b.x1, x1=w - b.x0, vx=-b.vx) for b in scene.blocks)
    return replace(
        scene,
        blocks=blocks,
        tracks=tuple(t.mirrored(w / 2) for t in scene.tracks),
        distractors=tuple(t.mirrored(w / 2) for t in scene.distractors),
        camera_x=np.maximum((w - 1.0) - scene.camera_x, 0.0),  # (1 + pan) - 1 may round below pan
    )


def camera_pan(n_frames: int, pan: float, direction: int) -> np.ndarray:
    """Camera ``x`` (``float64 (T,)``) of a uniform pan over ``pan`` view units, to the right for
    ``direction > 0``; ``pan = 0`` is a fixed camera. The world must be ``1 + pan`` wide."""
    u = np.linspace(0.0, 1.0, n_frames)
    return pan * (u if direction > 0 else 1.0 - u)


def random_body(rng: np.random.Generator, radius: float, avoid: tuple[Color, ...] = (), min_dist: float = 120.0,
                shapes: tuple[Shape, ...] = SHAPES) -> Body:
    """A body of random shape and an object colour at least ``min_dist`` (RGB) from every colour in
    ``avoid`` (falls back to the farthest colour when none qualifies)."""
    shape = shapes[int(rng.integers(len(shapes)))]
    return Body(shape, radius, pick_color(rng, OBJECT_COLORS, avoid, min_dist))


def pick_color(rng: np.random.Generator, palette: tuple[Color, ...], avoid: tuple[Color, ...] = (),
               min_dist: float = 0.0) -> Color:
    """A random colour of ``palette`` at least ``min_dist`` from all of ``avoid``, else the farthest one."""
    def score(c: Color) -> float:
        return min((color_distance(c, a) for a in avoid), default=math.inf)

    ok = [c for c in palette if score(c) >= min_dist]
    if ok:
        return ok[int(rng.integers(len(ok)))]
    return max(palette, key=score)
