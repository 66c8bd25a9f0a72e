"""Synthetic MVPBench: minimal video pairs written in the exact layout of the ``facebook/minimal_video_pairs``
release (see ``/work/shared/formats.md``, section MVPBench).

Layout written under ``out_dir``::

    <config>/full-00000-of-00001.parquet     all pairs of the config
    <config>/mini-00000-of-00001.parquet     every third pair (a subset of full, like the release's mini)
    videos/<source>/<32-hex>.mp4             the videos, one folder per source
    suite.json                               parameters, counts and the videos left out, written last

for the 4 configs ``human_object_interactions``, ``intuitive_physics``, ``robot_object_interactions``,
``temporal_reasoning``. Every parquet column is a string: ``video_id, video_path, question, answer,
candidates, source``; ``candidates`` is the Python repr of a 2-element list, ``answer`` the text of the right
candidate, ``video_path`` is relative to ``videos/`` (with a leading ``/`` for some sources, as in the
release), ``video_id`` is ``<config>_<pair>_<0|1>`` (pair key = ``video_id`` minus its last ``_<idx>``).
Rows are in a seeded shuffled order.

Minimal pairs
-------------
Each pair is one scene rendered twice with one change (a bounce instead of a stop, another order of events,
the other side of a push, a time reversal), asked the SAME question with the SAME candidate order, and the
two videos have opposite answers. The question text never tells the answer: a model that does not look at
the video answers both items alike and gets exactly one right, so its pair accuracy is 0 (chance with the
videos is 25 %). Candidate order and which variant is item ``_0`` are drawn per pair, so neither the letter
nor the item index tells the answer either. Templates per config (sources in brackets):

- intuitive_physics [intphys, inflevel, grasp, clevrer]: does the ball stop at the wall (or bounce back);
  does the ball come out from behind the screen (or stop behind it); does one ball hit the other (or stop
  short); does the ball fall off the table (or stop at the edge).
- temporal_reasoning [vinoground, star]: which ball starts moving first (the same motions, swapped
  timing); in which order does the ball move (left then right, or the mirror).
- robot_object_interactions [language_table]: in which direction does the robot push the block (it comes
  down on one side or the other); which of two blocks does it push.
- human_object_interactions [ssv2, pt]: does the hand move the object or only pretend to (it touches it
  and lets go); is the object moved up or down (the lift played backwards).

Missing videos
--------------
The real videos come from 9 sources that users download separately, so a release on disk usually lacks
some. ``missing_fraction`` of the pairs of each config (rounded) lose both videos, the first or the second
(cycling), and ``suite.json`` lists them (``missing_videos``: video id, path, source) with per-source
counts. A loader must report them and score complete pairs only.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from pjbench.benchmarks.errors import PjbenchError
from pjbench.synthetic.render import render_scene
from pjbench.synthetic.world import (
    BACKDROP_COLORS,
    FLOOR_COLORS,
    OBJECT_COLOR_NAMES,
    OBJECT_COLORS,
    SCREEN_COLORS,
    SHAPES,
    WALL_COLORS,
    Backdrop,
    Block,
    Body,
    Scene,
    Track,
    bounce_track,
    keyframe_track,
    mirror_scene,
    pick_color,
)

CONFIGS = ("human_object_interactions", "intuitive_physics", "robot_object_interactions", "temporal_reasoning")
SPLITS = ("full", "mini")
COLUMNS = ("video_id", "video_path", "question", "answer", "candidates", "source")
SOURCES = {
    "human_object_interactions": ("ssv2", "pt"),
    "intuitive_physics": ("intphys", "inflevel", "grasp", "clevrer"),
    "robot_object_interactions": ("language_table",),
    "temporal_reasoning": ("vinoground", "star"),
}
# sources whose video_path is written with a leading "/" (the release mixes both forms)
LEADING_SLASH = frozenset({"ssv2", "intphys", "grasp", "star"})
BASE_PAIRS = 24  # pairs per config at scale 1
MINI_EVERY = 3  # mini = pairs 0, 3, 6, ... (the release's mini is about a third of full)
GENERATOR = "pjbench.synthetic.mvpbench"
GENERATOR_VERSION = 1  # bump when the same parameters would give other files
_CONFIG_CODE = {c: i + 1 for i, c in enumerate(CONFIGS)}  # seeds derive from these, keep them stable
MISSING_MODES = ("both", "first", "second")

FLOOR_Y = 0.8
TEXTURE_AMP = 10.0
CRF = 0  # lossless: the frames a pair shares decode identically
NAMED_COLORS = 7  # red .. orange: saturated colours with distinct names (not white / black)
SKIN_COLORS = ((224, 172, 140), (198, 134, 66), (141, 85, 36), (241, 194, 125))
EFFECTOR_COLOR = (60, 62, 70)


@dataclass(frozen=True)
class MVPSuiteSpec:
    """Parameters of a synthetic MVPBench release (everything the files depend on).

    resolution: frame side in pixels (even, >= 16). n_frames / fps: video length and frame rate (defaults
    24 frames at 8 fps: 3 s). scale multiplies the pairs per config (24 at scale 1, at least 2).
    missing_fraction: share of each config's pairs whose videos (both or one) are left out, in [0, 1].
    """

    seed: int = 0
    scale: float = 1.0
    resolution: int = 64
    fps: int = 8
    n_frames: int = 24
    missing_fraction: float = 0.1

    def __post_init__(self) -> None:
        _check_video_params(self.resolution, self.fps, self.n_frames, self.scale)
        if not (0.0 <= self.missing_fraction <= 1.0):
            raise PjbenchError(f"missing_fraction must be in [0, 1], got {self.missing_fraction}")

    def n_pairs(self, config: str) -> int:
        return max(2, round(BASE_PAIRS * self.scale))

    def to_json(self) -> dict:
        return asdict(self)


def _check_video_params(resolution: int, fps: int, n_frames: int, scale: float) -> None:
    if resolution < 16 or resolution % 2:
        raise PjbenchError(f"resolution must be even and >= 16 (H.264 yuv420p), got {resolution}")
    if n_frames < 16:
        raise PjbenchError(f"n_frames must be >= 16, got {n_frames}")
    if fps < 1:
        raise PjbenchError(f"fps must be >= 1, got {fps}")
    if not (scale > 0 and math.isfinite(scale)):
        raise PjbenchError(f"scale must be a positive number, got {scale}")


# --- scenes -------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MinimalPair:
    """One scene rendered twice with one change: ``answers[i]`` is the right answer for ``scenes[i]``."""

    template: str
    question: str
    answers: tuple[str, str]
    scenes: tuple[Scene, Scene]


def backdrop(rng: np.random.Generator, textured: bool | None = None) -> Backdrop:
    """A random back wall and floor (floor line at ``FLOOR_Y``); textured half the time unless told."""
    if textured is None:
        textured = bool(rng.random() < 0.5)
    return Backdrop(
        wall_color=BACKDROP_COLORS[int(rng.integers(len(BACKDROP_COLORS)))],
        floor_color=FLOOR_COLORS[int(rng.integers(len(FLOOR_COLORS)))],
        floor_y=FLOOR_Y,
        texture_amp=TEXTURE_AMP if textured else 0.0,
        texture_seed=int(rng.integers(2**31)),
    )


def named_colors(rng: np.random.Generator, k: int) -> list[int]:
    """``k`` distinct indices into ``OBJECT_COLORS`` / ``OBJECT_COLOR_NAMES`` among the saturated ones."""
    return [int(i) for i in rng.choice(NAMED_COLORS, size=k, replace=False)]


def still_scene(n_frames: int, bd: Backdrop, tracks: Sequence[Track], blocks: Sequence[Block] = ()) -> Scene:
    """A fixed-camera scene one view wide."""
    return Scene(n_frames, bd, np.zeros(n_frames), 1.0, tuple(blocks), tuple(tracks))


def _maybe_mirror(rng: np.random.Generator, scenes: tuple[Scene, Scene]) -> tuple[Scene, Scene]:
    if rng.random() < 0.5:
        return mirror_scene(scenes[0]), mirror_scene(scenes[1])
    return scenes


def _stop_at_wall(rng: np.random.Generator, T: int) -> MinimalPair:
    """The ball rolls to a wall and stops there, or bounces back: identical up to the contact."""
    bd = backdrop(rng)
    r = rng.uniform(0.05, 0.065)
    ball = Body("disc", r, OBJECT_COLORS[named_colors(rng, 1)[0]])
    x_wall = rng.uniform(0.7, 0.78)
    wall = Block("wall", x_wall, x_wall + 0.05, rng.uniform(0.35, 0.5), FLOOR_Y + 0.005,
                 pick_color(rng, WALL_COLORS, (bd.wall_color,), 40.0), "wall")
    x_contact = x_wall - r
    t_c = rng.uniform(0.4, 0.55) * (T - 1)
    vx = (x_contact - rng.uniform(0.08, 0.2)) / t_c
    y = FLOOR_Y - r
    stops = bounce_track(ball, T, x_contact, t_c, vx, y, restitution=0.0)
    bounces = bounce_track(ball, T, x_contact, t_c, vx, y, restitution=rng.uniform(0.4, 0.7))
    scenes = _maybe_mirror(rng, (still_scene(T, bd, [stops], [wall]), still_scene(T, bd, [bounces], [wall])))
    return MinimalPair("stop_at_wall", "Does the ball stop when it reaches the wall?", ("Yes", "No"), scenes)


def _reappear(rng: np.random.Generator, T: int) -> MinimalPair:
    """The ball rolls behind a screen and comes out on the other side, or stops behind it."""
    bd = backdrop(rng)
    r = rng.uniform(0.05, 0.06)
    ball = Body("disc", r, OBJECT_COLORS[named_colors(rng, 1)[0]])
    y = FLOOR_Y - r
    sx0 = rng.uniform(0.36, 0.42)
    sx1 = sx0 + rng.uniform(0.24, 0.28)
    screen = Block("screen", sx0, sx1, FLOOR_Y - 2 * r - rng.uniform(0.06, 0.12), FLOOR_Y + 0.03,
                   pick_color(rng, SCREEN_COLORS, (bd.wall_color,), 60.0), "screen")
    x_start = rng.uniform(0.06, 0.14)
    x_end = sx1 + r + rng.uniform(0.1, 0.18)
    through = keyframe_track(ball, T, [(0, x_start, y), (T - 1, x_end, y)])
    margin = 0.03  # the ball is wholly hidden from here on
    x_hidden = sx0 + r + margin
    t_hidden = (x_hidden - x_start) / (x_end - x_start) * (T - 1)
    x_stop = min(x_hidden + rng.uniform(0.02, 0.05), sx1 - r - margin)
    stays = keyframe_track(ball, T, [(0, x_start, y), (t_hidden, x_hidden, y), (t_hidden + 3, x_stop, y)])
    scenes = _maybe_mirror(rng, (still_scene(T, bd, [through], [screen]), still_scene(T, bd, [stays], [screen])))
    return MinimalPair("reappear", "Does the ball come out from behind the screen?", ("Yes", "No"), scenes)


def _collision(rng: np.random.Generator, T: int) -> MinimalPair:
    """One ball rolls at another and hits it (the other rolls on), or slows down and stops short."""
    bd = backdrop(rng)
    r = rng.uniform(0.045, 0.055)
    i1, i2 = named_colors(rng, 2)
    mover, target = Body("disc", r, OBJECT_COLORS[i1]), Body("disc", r, OBJECT_COLORS[i2])
    y = FLOOR_Y - r
    x_target = rng.uniform(0.55, 0.65)
    x0 = rng.uniform(0.08, 0.16)
    t_c = rng.uniform(0.45, 0.55) * (T - 1)
    x_c = x_target - 2 * r
    v = (x_c - x0) / t_c
    hit = (keyframe_track(mover, T, [(0, x0, y), (t_c, x_c, y)]),
           keyframe_track(target, T, [(t_c, x_target, y),
                                      (T - 1, x_target + v * (T - 1 - t_c) * rng.uniform(0.7, 0.9), y)]))
    x_stop = x_c - rng.uniform(0.08, 0.12)
    t_brake = (x_stop - 0.04 - x0) / v  # same motion until it brakes, then half speed on average
    miss = (keyframe_track(mover, T, [(0, x0, y), (t_brake, x_stop - 0.04, y), (t_brake + 0.08 / v, x_stop, y)]),
            keyframe_track(target, T, [(0, x_target, y)]))
    scenes = _maybe_mirror(rng, (still_scene(T, bd, hit), still_scene(T, bd, miss)))
    n1, n2 = OBJECT_COLOR_NAMES[i1], OBJECT_COLOR_NAMES[i2]
    return MinimalPair("collision", f"Does the {n1} ball hit the {n2} ball?", ("Yes", "No"), scenes)


def _fall_off(rng: np.random.Generator, T: int) -> MinimalPair:
    """The ball rolls along a table top and falls off its edge, or stops just before the edge."""
    bd = backdrop(rng)
    r = rng.uniform(0.045, 0.055)
    ball = Body("disc", r, OBJECT_COLORS[named_colors(rng, 1)[0]])
    top = rng.uniform(0.5, 0.58)
    x0, x_edge, leg = rng.uniform(0.02, 0.06), rng.uniform(0.55, 0.62), 0.03
    color = pick_color(rng, WALL_COLORS, (bd.wall_color, ball.color), 60.0)
    table = [Block("Table_top", x0, x_edge, top, top + 0.03, color, "wall"),
             Block("Table_leg_1", x0, x0 + leg, top, FLOOR_Y + 0.005, color, "wall"),
             Block("Table_leg_2", x_edge - leg, x_edge, top, FLOOR_Y + 0.005, color, "wall")]
    y_top, y_floor = top - r, FLOOR_Y - r
    x_start = x0 + r + rng.uniform(0.02, 0.06)
    x_fall = x_edge + r  # the ball drops once it is clear of the edge
    t_fall = rng.uniform(0.45, 0.55) * (T - 1)
    v = (x_fall - x_start) / t_fall
    t = np.arange(T, dtype=np.float64)
    dt = np.maximum(t - t_fall, 0.0)
    t_drop = 0.2 * (T - 1)  # frames from the edge to the floor
    g = 2 * (y_floor - y_top) / t_drop**2
    x = x_start + v * np.minimum(t, t_fall + t_drop) + 0.6 * v * np.maximum(t - t_fall - t_drop, 0.0)
    y_fall = np.minimum(y_top + 0.5 * g * dt**2, y_floor)
    falls = Track(ball, np.stack([x, y_fall], axis=1), np.ones(T, dtype=bool))
    x_stop = x_edge - r - rng.uniform(0.02, 0.05)
    t_brake = (x_stop - 0.05 - x_start) / v
    stops = keyframe_track(ball, T, [(0, x_start, y_top), (t_brake, x_stop - 0.05, y_top),
                                     (t_brake + 0.1 / v, x_stop, y_top)])
    scenes = _maybe_mirror(rng, (still_scene(T, bd, [falls], table), still_scene(T, bd, [stops], table)))
    return MinimalPair("fall_off", "Does the ball fall off the table?", ("Yes", "No"), scenes)


def _first_mover(rng: np.random.Generator, T: int) -> MinimalPair:
    """Two balls make the same moves; which one starts first is swapped between the videos."""
    bd = backdrop(rng)
    r = rng.uniform(0.045, 0.055)
    i1, i2 = named_colors(rng, 2)
    b1, b2 = Body("disc", r, OBJECT_COLORS[i1]), Body("disc", r, OBJECT_COLORS[i2])
    y = FLOOR_Y - r
    x1, x2 = rng.uniform(0.12, 0.22), rng.uniform(0.52, 0.62)
    if rng.random() < 0.5:
        x1, x2 = x2, x1
    dist = rng.uniform(0.15, 0.22)
    early, late = rng.uniform(0.08, 0.18) * (T - 1), rng.uniform(0.5, 0.6) * (T - 1)
    dur = rng.uniform(0.25, 0.32) * (T - 1)

    def move(body: Body, x: float, t0: float) -> Track:
        return keyframe_track(body, T, [(t0, x, y), (t0 + dur, x + dist, y)])

    scenes = _maybe_mirror(rng, (still_scene(T, bd, [move(b1, x1, early), move(b2, x2, late)]),
                                 still_scene(T, bd, [move(b1, x1, late), move(b2, x2, early)])))
    answers = (f"The {OBJECT_COLOR_NAMES[i1]} ball", f"The {OBJECT_COLOR_NAMES[i2]} ball")
    return MinimalPair("first_mover", "Which ball starts moving first?", answers, scenes)


def _order(rng: np.random.Generator, T: int) -> MinimalPair:
    """The ball rolls to one side and back; the other video is its mirror image about the start."""
    bd = backdrop(rng)
    r = rng.uniform(0.045, 0.055)
    ball = Body(SHAPES[int(rng.integers(len(SHAPES)))], r, OBJECT_COLORS[named_colors(rng, 1)[0]])
    y = FLOOR_Y - ball.below
    xc, dist = rng.uniform(0.4, 0.6), rng.uniform(0.18, 0.25)
    t0, t1 = rng.uniform(0.08, 0.12) * (T - 1), rng.uniform(0.4, 0.45) * (T - 1)
    t2, t3 = rng.uniform(0.55, 0.6) * (T - 1), rng.uniform(0.88, 0.92) * (T - 1)
    left_first = keyframe_track(ball, T, [(t0, xc, y), (t1, xc - dist, y), (t2, xc - dist, y), (t3, xc, y)])
    scenes = (still_scene(T, bd, [left_first]), still_scene(T, bd, [left_first.mirrored(xc)]))
    answers = ("First to the left, then to the right", "First to the right, then to the left")
    return MinimalPair("order", "In which order does the object move?", answers, scenes)


def push_tracks(actor: Body, obj: Body, T: int, x_obj: float, direction: int, push: float,
                times: tuple[float, float, float, float], start: tuple[float, float],
                moves: bool = True) -> tuple[Track, Track]:
    """An actor (hand, robot effector) that comes from ``start``, goes down beside ``obj`` (resting on the
    floor at ``x_obj``) on the side opposite ``direction``, pushes it by ``push`` along ``direction`` and
    lifts off. ``times`` = (above the contact point, at it, push done, lifted), in frames. With
    ``moves=False`` the actor touches the object, stays, and lifts off without moving it.
    Returns ``(object track, actor track)``: draw the actor last."""
    t0, t1, t2, t3 = times
    y_actor, y_obj = FLOOR_Y - actor.below, FLOOR_Y - obj.below
    xc = x_obj - direction * (obj.half_width + actor.half_width + 0.005)
    shift = direction * push if moves else 0.0
    actor_track = keyframe_track(actor, T, [(0, *start), (t0, xc, start[1]), (t1, xc, y_actor),
                                            (t2, xc + shift, y_actor), (t3, xc + shift, start[1])])
    obj_track = keyframe_track(obj, T, [(t1, x_obj, y_obj), (t2, x_obj + shift, y_obj)])
    return obj_track, actor_track


def _push_times(rng: np.random.Generator, T: int) -> tuple[float, float, float, float]:
    return (rng.uniform(0.18, 0.24) * (T - 1), rng.uniform(0.34, 0.4) * (T - 1),
            rng.uniform(0.62, 0.68) * (T - 1), rng.uniform(0.8, 0.86) * (T - 1))


def _push_direction(rng: np.random.Generator, T: int) -> MinimalPair:
    """The robot comes down on one side of the block or on the other and pushes it away from that side."""
    bd = backdrop(rng)
    i = named_colors(rng, 1)[0]
    block = Body("square", rng.uniform(0.04, 0.05), OBJECT_COLORS[i])
    effector = Body("square", 0.035, EFFECTOR_COLOR)
    x_obj, push = rng.uniform(0.4, 0.6), rng.uniform(0.15, 0.22)
    times, start = _push_times(rng, T), (x_obj + rng.uniform(-0.1, 0.1), rng.uniform(0.1, 0.18))
    left = push_tracks(effector, block, T, x_obj, -1, push, times, start)
    right = push_tracks(effector, block, T, x_obj, +1, push, times, start)
    scenes = (still_scene(T, bd, left), still_scene(T, bd, right))
    question = f"In which direction does the robot push the {OBJECT_COLOR_NAMES[i]} block?"
    return MinimalPair("push_direction", question, ("To the left", "To the right"), scenes)


def _which_block(rng: np.random.Generator, T: int) -> MinimalPair:
    """Two blocks; the robot pushes one or the other (the same way)."""
    bd = backdrop(rng)
    i1, i2 = named_colors(rng, 2)
    size = rng.uniform(0.04, 0.05)
    blocks = [Body("square", size, OBJECT_COLORS[i1]), Body("square", size, OBJECT_COLORS[i2])]
    xs = [rng.uniform(0.22, 0.32), rng.uniform(0.62, 0.72)]
    if rng.random() < 0.5:
        xs.reverse()
    effector = Body("square", 0.035, EFFECTOR_COLOR)
    direction, push = int(rng.choice([-1, 1])), rng.uniform(0.08, 0.12)
    times, start = _push_times(rng, T), (rng.uniform(0.45, 0.55), rng.uniform(0.1, 0.16))
    scenes = []
    for k in (0, 1):
        obj, actor = push_tracks(effector, blocks[k], T, xs[k], direction, push, times, start)
        other = keyframe_track(blocks[1 - k], T, [(0, xs[1 - k], FLOOR_Y - blocks[1 - k].below)])
        scenes.append(still_scene(T, bd, [obj, other, actor]))
    answers = (f"The {OBJECT_COLOR_NAMES[i1]} block", f"The {OBJECT_COLOR_NAMES[i2]} block")
    return MinimalPair("which_block", "Which block does the robot push?", answers, (scenes[0], scenes[1]))


def _pretend(rng: np.random.Generator, T: int) -> MinimalPair:
    """A hand pushes an object along, or touches it and lets go (pretending to push)."""
    bd = backdrop(rng)
    i = named_colors(rng, 1)[0]
    obj = Body(SHAPES[int(rng.integers(len(SHAPES)))], rng.uniform(0.045, 0.055), OBJECT_COLORS[i])
    hand = Body("disc", rng.uniform(0.05, 0.06), SKIN_COLORS[int(rng.integers(len(SKIN_COLORS)))])
    x_obj, push = rng.uniform(0.35, 0.55), rng.uniform(0.15, 0.22)
    times, start = _push_times(rng, T), (x_obj - rng.uniform(0.2, 0.3), rng.uniform(0.2, 0.35))
    moved = push_tracks(hand, obj, T, x_obj, +1, push, times, start)
    pretended = push_tracks(hand, obj, T, x_obj, +1, push, times, start, moves=False)
    scenes = _maybe_mirror(rng, (still_scene(T, bd, moved), still_scene(T, bd, pretended)))
    question = f"Does the hand move the {OBJECT_COLOR_NAMES[i]} object or only pretend to?"
    return MinimalPair("pretend", question, ("It moves it", "It only pretends to"), scenes)


def _up_down(rng: np.random.Generator, T: int) -> MinimalPair:
    """A hand takes an object from the floor and lifts it; the other video is the same played backwards."""
    bd = backdrop(rng)
    i = named_colors(rng, 1)[0]
    obj = Body(SHAPES[int(rng.integers(len(SHAPES)))], rng.uniform(0.045, 0.055), OBJECT_COLORS[i])
    hand = Body("disc", rng.uniform(0.045, 0.055), SKIN_COLORS[int(rng.integers(len(SKIN_COLORS)))])
    x_obj = rng.uniform(0.3, 0.7)
    y_obj = FLOOR_Y - obj.below
    y_grip = y_obj - obj.above - 0.6 * hand.radius  # the hand holds the object's top
    lift = y_obj - rng.uniform(0.3, 0.4)  # how far up the object goes
    t0, t1, t2 = (rng.uniform(0.15, 0.2) * (T - 1), rng.uniform(0.35, 0.4) * (T - 1),
                  rng.uniform(0.7, 0.8) * (T - 1))
    start = (x_obj + rng.uniform(-0.15, 0.15), rng.uniform(0.05, 0.1))
    hand_up = keyframe_track(hand, T, [(0, *start), (t0, x_obj, start[1]), (t1, x_obj, y_grip),
                                       (t2, x_obj, y_grip - lift)])
    obj_up = keyframe_track(obj, T, [(t1, x_obj, y_obj), (t2, x_obj, y_obj - lift)])

    def backwards(track: Track) -> Track:
        return Track(track.body, track.xy[::-1].copy(), track.present[::-1].copy())

    scenes = (still_scene(T, bd, [obj_up, hand_up]), still_scene(T, bd, [backwards(obj_up), backwards(hand_up)]))
    return MinimalPair("up_down", f"Is the {OBJECT_COLOR_NAMES[i]} object moved up or down?", ("Up", "Down"), scenes)


TEMPLATES: dict[str, tuple[Callable[[np.random.Generator, int], MinimalPair], ...]] = {
    "human_object_interactions": (_pretend, _up_down),
    "intuitive_physics": (_stop_at_wall, _reappear, _collision, _fall_off),
    "robot_object_interactions": (_push_direction, _which_block),
    "temporal_reasoning": (_first_mover, _order),
}


# --- planning ------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PairPlan:
    """One pair of the release: its rows, and which of its videos are left out."""

    config: str
    number: int
    source: str
    pair: MinimalPair
    candidates: tuple[str, str]  # the order shown to the model (the same for both items)
    variant: tuple[int, int]  # item idx -> index into pair.scenes / pair.answers
    missing: tuple[int, ...]  # item indices whose video is not written
    mini: bool

    def video_id(self, idx: int) -> str:
        return f"{self.config}_{self.number}_{idx}"

    def video_path(self, seed: int, idx: int) -> str:
        """``<source>/<32-hex>.mp4`` relative to ``videos/`` (no leading slash)."""
        key = f"{GENERATOR}|seed={seed}|{self.config}|{self.number}|{idx}"
        return f"{self.source}/{hashlib.sha256(key.encode()).hexdigest()[:32]}.mp4"

    def rows(self, seed: int) -> list[dict[str, str]]:
        slash = "/" if self.source in LEADING_SLASH else ""
        return [dict(video_id=self.video_id(i), video_path=slash + self.video_path(seed, i),
                     question=self.pair.question, answer=self.pair.answers[self.variant[i]],
                     candidates=repr(list(self.candidates)), source=self.source) for i in (0, 1)]


def plan_suite(spec: MVPSuiteSpec) -> list[PairPlan]:
    """Every pair of every config. A pair's scenes and rows derive from ``(seed, config, pair number)``
    only, so a larger ``scale`` adds pairs without changing the earlier ones (the missing videos, drawn per
    config, may move)."""
    plans = []
    mode_counter = 0
    for config in CONFIGS:
        code = _CONFIG_CODE[config]
        n = spec.n_pairs(config)
        templates, sources = TEMPLATES[config], SOURCES[config]
        offset = int(np.random.default_rng([spec.seed, code, 0]).integers(len(templates)))
        n_missing = min(n, round(spec.missing_fraction * n))
        missing_pairs = np.random.default_rng([spec.seed, code, 3]).choice(n, size=n_missing, replace=False)
        missing: dict[int, tuple[int, ...]] = {}
        for p in sorted(int(x) for x in missing_pairs):
            mode = MISSING_MODES[mode_counter % len(MISSING_MODES)]
            mode_counter += 1
            missing[p] = {"both": (0, 1), "first": (0,), "second": (1,)}[mode]
        for number in range(n):
            template = templates[(number + offset) % len(templates)]
            pair = template(np.random.default_rng([spec.seed, code, 1, number]), spec.n_frames)
            order = np.random.default_rng([spec.seed, code, 2, number])
            candidates = pair.answers if order.random() < 0.5 else pair.answers[::-1]
            variant = (0, 1) if order.random() < 0.5 else (1, 0)
            # every source in the first few pairs, and over the pairs every template with every source
            source = sources[(number + number // len(templates)) % len(sources)]
            plans.append(PairPlan(config, number, source, pair, tuple(candidates), variant,
                                  missing.get(number, ()), number % MINI_EVERY == 0))
    return plans


def _manifest(spec: MVPSuiteSpec, plans: list[PairPlan]) -> dict:
    missing = [dict(config=p.config, video_id=p.video_id(i), video_path=p.video_path(spec.seed, i), source=p.source)
               for p in plans for i in p.missing]
    missing.sort(key=lambda m: m["video_id"])
    by_source = {s: 0 for c in CONFIGS for s in SOURCES[c]}
    for m in missing:
        by_source[m["source"]] += 1
    items = {c: {"full": 2 * sum(p.config == c for p in plans),
                 "mini": 2 * sum(p.config == c and p.mini for p in plans)} for c in CONFIGS}
    return {
        "generator": f"{GENERATOR} v{GENERATOR_VERSION}",
        "format": "MVPBench release layout (facebook/minimal_video_pairs): <config>/{full,mini}-00000-of-00001.parquet"
                  " + videos/<source>/",
        "spec": spec.to_json(),
        "items": items,
        "videos": 2 * len(plans) - len(missing),
        "missing_videos": missing,
        "missing_by_source": by_source,
    }


# --- writing -------------------------------------------------------------------------------------------


def parquet_name(split: str) -> str:
    return f"{split}-00000-of-00001.parquet"


def _write_parquet(path: Path, rows: list[dict[str, str]]) -> None:
    """All-string parquet (like the release), written atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field(c, pa.string()) for c in COLUMNS])
    table = pa.Table.from_pydict({c: [r[c] for r in rows] for c in COLUMNS}, schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _render_pair(args: tuple[MVPSuiteSpec, PairPlan, str]) -> int:
    """Render and encode the videos of one pair that are not left out; returns how many were written."""
    from pjbench.benchmarks.video import write_video

    spec, plan, videos_dir = args
    written = 0
    for idx in (0, 1):
        if idx in plan.missing:
            continue
        frames = render_scene(plan.pair.scenes[plan.variant[idx]], spec.resolution)
        write_video(Path(videos_dir) / plan.video_path(spec.seed, idx), frames, fps=spec.fps, crf=CRF)
        written += 1
    return written


def write_suite(out_dir: str | os.PathLike, spec: MVPSuiteSpec, *, progress: bool = True, overwrite: bool = False,
                workers: int | None = None) -> Path:
    """Write the release ``spec`` under ``out_dir``; see :func:`pjbench.synthetic.write_mvpbench_suite`."""
    out = Path(out_dir)
    plans = plan_suite(spec)
    wanted = _manifest(spec, plans)
    owned = (*CONFIGS, "videos")

    def complete() -> bool:
        if not all((out / c / parquet_name(s)).is_file() for c in CONFIGS for s in SPLITS):
            return False
        return sum(1 for _ in (out / "videos").glob("*/*.mp4")) == wanted["videos"]

    if prepare_suite_dir(out, wanted, owned, complete, overwrite):
        return out

    from tqdm.auto import tqdm

    jobs = [(spec, p, str(out / "videos")) for p in plans]
    with tqdm(total=wanted["videos"], unit="video", desc="synthetic MVPBench", disable=not progress) as bar:
        for n in map_jobs(_render_pair, jobs, workers):
            bar.update(n)
    for config in CONFIGS:
        rows = [r for p in plans if p.config == config for r in p.rows(spec.seed)]
        mini_ids = {p.video_id(i) for p in plans if p.config == config and p.mini for i in (0, 1)}
        order = np.random.default_rng([spec.seed, _CONFIG_CODE[config], 4]).permutation(len(rows))
        rows = [rows[i] for i in order]  # loaders must not rely on the order
        _write_parquet(out / config / parquet_name("full"), rows)
        _write_parquet(out / config / parquet_name("mini"), [r for r in rows if r["video_id"] in mini_ids])
    finish_suite_dir(out, wanted)
    return out


# --- suite directory bookkeeping (shared with causalvqa.py) ---------------------------------------------


def prepare_suite_dir(out: Path, wanted: dict, owned: Sequence[str], complete: Callable[[], bool],
                      overwrite: bool) -> bool:
    """Get ``out`` ready for the suite described by the manifest ``wanted``; ``True``: it is already there.

    The IntPhys 2 writer's rules: a complete suite with the same generator and spec is left as is (even
    with ``overwrite``); a suite with other parameters, or ``owned`` entries not written by a suite writer
    (no ``suite.json``, no ``.suite-partial.json`` marker of an interrupted run), raise
    :class:`PjbenchError` unless ``overwrite``. Otherwise the ``owned`` entries, and nothing else, are
    deleted and the partial marker is written; call :func:`finish_suite_dir` when done.
    """
    from pjbench.synthetic.intphys2 import _read_json, _write_text

    manifest_path, partial_path = out / "suite.json", out / ".suite-partial.json"
    if manifest_path.is_file():
        found = _read_json(manifest_path)
        if found.get("spec") == wanted["spec"] and found.get("generator") == wanted["generator"]:
            if complete():
                return True
        elif not overwrite:
            raise PjbenchError(
                f"{out} holds a synthetic suite written with other parameters ({_describe(found)}; asked: "
                f"{_describe(wanted)}). Pass overwrite=True (CLI: --overwrite) to replace it, or choose another "
                "directory."
            )
    elif not partial_path.is_file() and not overwrite:
        foreign = [name for name in owned if (out / name).exists()
                   and (not (out / name).is_dir() or any((out / name).iterdir()))]
        if foreign:
            raise PjbenchError(
                f"{out} already holds {', '.join(foreign)} that are not a synthetic suite (no suite.json). Choose "
                "an empty directory, or pass overwrite=True (CLI: --overwrite) to replace them."
            )
    out.mkdir(parents=True, exist_ok=True)
    manifest_path.unlink(missing_ok=True)
    for name in owned:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    _write_text(partial_path, json.dumps(wanted, indent=2))
    return False


def finish_suite_dir(out: Path, wanted: dict) -> None:
    """Write ``suite.json`` (last: it marks the suite complete) and drop the partial marker."""
    from pjbench.synthetic.intphys2 import _write_text

    _write_text(out / "suite.json", json.dumps(wanted, indent=2) + "\n")
    (out / ".suite-partial.json").unlink(missing_ok=True)


def map_jobs(fn, jobs: list, workers: int | None) -> Iterator:
    """``map(fn, jobs)`` in order over ``workers`` threads (the IntPhys 2 writer's pool)."""
    from pjbench.synthetic.intphys2 import _map

    return _map(fn, jobs, workers)


def _describe(manifest: dict) -> str:
    spec = manifest.get("spec") or {}
    return ", ".join(f"{k}={v}" for k, v in spec.items()) + f", {manifest.get('generator', '?')}"
