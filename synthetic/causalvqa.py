"""Synthetic CausalVQA: five-way causal questions about procedural videos, written in the exact layout of the
CausalVQA release zip (see ``/work/shared/formats.md``, section CausalVQA).

Layout written under ``out_dir`` (the folder the zip unpacks into)::

    CausalVQA/debug/debug_metadata.csv   CausalVQA/debug/videos/<32-hex>.mp4   answers given
    CausalVQA/test/test_metadata.csv     CausalVQA/test/videos/<32-hex>.mp4    correct1 / correct2 blank
    suite.json                           parameters and counts, written last

CSV columns, in order: ``qid, type, question, choices1, correct1, choices2, correct2, difficulty,
renamed_video``. ``qid`` is a guid; ``choices1`` holds 5 options ``N. text`` (N = 1..5 in order) joined by
``" | "``; ``choices2`` holds the same 5 option texts in another order, renumbered, with the right option
at another position; ``correct1`` / ``correct2`` are the right option's number (blank in ``test``);
``renamed_video`` is the file name under the split's ``videos/``. Rows are in a seeded shuffled order.

Scenes and questions
--------------------
Every video shows a row of five blocks of five colours (red, green, blue, yellow, magenta; their order
drawn per video) standing on the floor and a black ball rolling in the wide gap between two of them.
Every question is answered by one of the five blocks, and its five options are always the same five
texts, one per block, so the text alone tells nothing: the answer depends on where the ball is, which
way it rolls and what it does. Per type (question text in quotes):

- anticipation: the video ends before the ball reaches the next block. "Which block will the ball hit
  next?"
- descriptive: the ball knocks the next block, which slides on a little. "Which block did the ball push?"
- planning: the ball stops against the next block. "The ball is stuck against a block. Which block
  should be removed so that it can roll on?"
- counterfactual: a grey wall in the gap stops the ball, which bounces back. "Which block would the ball
  have hit if the grey wall had not been there?" (the first block beyond the wall).
- hypothetical: the ball hits the next block and bounces back. "Which block would the ball have hit if it
  had rolled the other way?" (the nearest block on the other side).

The right colour of every question is drawn uniformly at random (seeded by the suite seed, split, type
and question number), independently of every other question, so the question and option texts carry no
information about the answer: a text-only learner is at chance (1/5 single), also under folds grouped by
question. (An exactly balanced design, e.g. colours cycling per type, would put it *below* chance there:
the held-out questions' colours are the ones the training folds lack.) The difficulty cycles through
easy / med / hard every 5 questions (the defaults: debug 15 per type, test 5). Difficulty: easy = plain backdrop, med =
textured backdrop, hard = textured + two distractor balls moving high in the view; anticipation clips
also end farther from the contact the harder they are.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pjbench.synthetic.mvpbench import (
    FLOOR_Y,
    _check_video_params,
    backdrop,
    finish_suite_dir,
    map_jobs,
    prepare_suite_dir,
    still_scene,
)
from pjbench.synthetic.render import render_scene
from pjbench.synthetic.world import (
    OBJECT_COLOR_NAMES,
    OBJECT_COLORS,
    SHAPES,
    Block,
    Body,
    Scene,
    Track,
    bounce_track,
    keyframe_track,
    patrol_track,
)

COLUMNS = ("qid", "type", "question", "choices1", "correct1", "choices2", "correct2", "difficulty", "renamed_video")
TYPES = ("anticipation", "counterfactual", "descriptive", "planning", "hypothetical")
DIFFICULTIES = ("easy", "med", "hard")
SPLITS = ("debug", "test")
LABELLED_SPLITS = ("debug",)
BASE_PER_TYPE = {"debug": 3, "test": 1}  # x 5 questions per type at scale 1 (a multiple of 5: every difficulty)
ROOT = "CausalVQA"
OPTION_SEPARATOR = " | "
GENERATOR = "pjbench.synthetic.causalvqa"
GENERATOR_VERSION = 2  # bump when the same parameters would give other files
_SPLIT_CODE = {"debug": 1, "test": 2}
_TYPE_CODE = {t: i + 1 for i, t in enumerate(TYPES)}
CRF = 0

BLOCK_COLORS = tuple(range(5))  # indices into OBJECT_COLORS: red, green, blue, yellow, magenta
BALL_COLOR = OBJECT_COLORS[8]  # black: stands out from every backdrop and block
WALL_COLOR = (80, 80, 86)  # the counterfactual's "grey wall": dark, to stand out from every backdrop
BLOCK_HALF = 0.04  # half width of a block (view units)
BALL_GAP = 0.34  # width of the gap the ball rolls in
QUESTIONS = {
    "anticipation": "Which block will the ball hit next?",
    "descriptive": "Which block did the ball push?",
    "planning": "The ball is stuck against a block. Which block should be removed so that it can roll on?",
    "counterfactual": "Which block would the ball have hit if the grey wall had not been there?",
    "hypothetical": "Which block would the ball have hit if it had rolled the other way?",
}


def option_text(qtype: str, color_index: int) -> str:
    """The option naming the block of colour ``color_index`` (the same five texts for every question)."""
    name = OBJECT_COLOR_NAMES[color_index]
    return f"Remove the {name} block" if qtype == "planning" else f"The {name} block"


@dataclass(frozen=True)
class CausalVQASuiteSpec:
    """Parameters of a synthetic CausalVQA release (everything the files depend on).

    resolution: frame side in pixels (even, >= 16). n_frames / fps: video length and frame rate (defaults
    24 frames at 8 fps). scale multiplies the questions per type (debug 15, test 5 at scale 1), kept a
    multiple of 5 so the difficulties stay balanced (down to 5 per type; smaller scales give 1 to 4).
    """

    seed: int = 0
    scale: float = 1.0
    resolution: int = 64
    fps: int = 8
    n_frames: int = 24

    def __post_init__(self) -> None:
        _check_video_params(self.resolution, self.fps, self.n_frames, self.scale)

    def n_per_type(self, split: str) -> int:
        """A multiple of 5 (balanced difficulties) from 5 up; below that (tiny test suites) at least 1."""
        fives = round(BASE_PER_TYPE[split] * self.scale)
        return 5 * fives if fives >= 1 else max(1, round(5 * BASE_PER_TYPE[split] * self.scale))

    def n_questions(self, split: str) -> int:
        return len(TYPES) * self.n_per_type(split)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Question:
    """One row of a split's metadata, and the scene of its video."""

    split: str
    qtype: str
    number: int  # position among the split's questions of this type
    difficulty: str
    answer: int  # colour index of the right block
    options1: tuple[int, ...]  # colour indices in choices1 order
    options2: tuple[int, ...]
    scene: Scene
    qid: str
    video: str

    def row(self) -> dict[str, str]:
        def choices(options: tuple[int, ...]) -> str:
            return OPTION_SEPARATOR.join(f"{k + 1}. {option_text(self.qtype, c)}" for k, c in enumerate(options))

        labelled = self.split in LABELLED_SPLITS
        return dict(qid=self.qid, type=self.qtype, question=QUESTIONS[self.qtype],
                    choices1=choices(self.options1),
                    correct1=str(self.options1.index(self.answer) + 1) if labelled else "",
                    choices2=choices(self.options2),
                    correct2=str(self.options2.index(self.answer) + 1) if labelled else "",
                    difficulty=self.difficulty, renamed_video=self.video)


# --- scenes -------------------------------------------------------------------------------------------


def build_scene(rng: np.random.Generator, qtype: str, answer: int, difficulty: str, T: int) -> Scene:
    """A row of five blocks and a ball whose motion makes block ``answer`` the right one for ``qtype``."""
    bd = backdrop(rng, textured=difficulty != "easy")
    gap = int(rng.integers(1, 5))  # the ball rolls between slots gap - 1 and gap
    d = int(rng.choice([-1, 1]))  # which way it rolls
    near = gap if d > 0 else gap - 1  # the block in front of the ball
    behind = gap - 1 if d > 0 else gap
    target = behind if qtype == "hypothetical" else near
    colors = [int(c) for c in rng.permutation(BLOCK_COLORS)]
    j = colors.index(answer)
    colors[j], colors[target] = colors[target], colors[j]

    # slot centres: narrow gaps (0.03-0.045) between blocks, the ball's gap wide, the rest as margins
    widths = [rng.uniform(0.03, 0.045) for _ in range(4)]
    widths[gap - 1] = BALL_GAP
    spare = 1.0 - 10 * BLOCK_HALF - sum(widths)
    x = spare * rng.uniform(0.3, 0.7) + BLOCK_HALF
    xs = []
    for k in range(5):
        xs.append(x)
        if k < 4:
            x += 2 * BLOCK_HALF + widths[k]
    block_r = BLOCK_HALF * 2 / math.sqrt(math.pi)  # a square of half side BLOCK_HALF
    blocks = [Body("square", block_r, OBJECT_COLORS[c]) for c in colors]

    r = rng.uniform(0.04, 0.045)
    ball = Body("disc", r, BALL_COLOR)
    y = FLOOR_Y - r
    lo, hi = xs[gap - 1] + BLOCK_HALF + r, xs[gap] - BLOCK_HALF - r  # the ball's centre stays in [lo, hi]
    start = lo + 0.02 if d > 0 else hi - 0.02
    contact = hi if d > 0 else lo  # touching the block in front
    walls: list[Block] = []
    if qtype == "counterfactual":  # a wall two thirds of the way, in front of the ball
        wc = start + d * (2 / 3) * (hi - lo)
        walls.append(Block("wall", wc - 0.015, wc + 0.015, FLOOR_Y - rng.uniform(0.18, 0.26), FLOOR_Y + 0.005,
                           WALL_COLOR, "wall"))
        contact = wc - d * (0.015 + r)

    t_c = rng.uniform(0.45, 0.6) * (T - 1)
    vx = (contact - start) / t_c
    tracks: list[Track] = []
    still = [keyframe_track(b, T, [(0, xs[k], FLOOR_Y - b.below)]) for k, b in enumerate(blocks)]
    if qtype == "anticipation":  # cut before the contact; harder = cut farther from it
        t_c = (T - 1) * {"easy": 1.15, "med": 1.35, "hard": 1.6}[difficulty]
        vx = (contact - start) / t_c
        tracks = [*still, keyframe_track(ball, T, [(0, start, y), (t_c, contact, y)])]
    elif qtype == "descriptive":  # the ball stops, the block it hit slides on
        slide = d * rng.uniform(0.015, 0.025)
        b = blocks[near]
        still[near] = keyframe_track(b, T, [(t_c, xs[near], FLOOR_Y - b.below),
                                           (t_c + abs(slide / vx) * 2, xs[near] + slide, FLOOR_Y - b.below)])
        tracks = [*still, keyframe_track(ball, T, [(0, start, y), (t_c, contact, y)])]
    elif qtype == "planning":  # the ball stops against the block
        tracks = [*still, keyframe_track(ball, T, [(0, start, y), (t_c, contact, y)])]
    else:  # counterfactual (off the wall) and hypothetical (off the block): it bounces back
        tracks = [*still, bounce_track(ball, T, contact, t_c, vx, y, rng.uniform(0.3, 0.5))]

    if difficulty == "hard":
        tracks += [patrol_track(Body(SHAPES[int(rng.integers(3))], rng.uniform(0.025, 0.035), OBJECT_COLORS[k]),
                                T, 0.05, 0.95, rng.uniform(0.1, 0.9), rng.choice([-1, 1]) * rng.uniform(0.3, 0.6) / T,
                                rng.uniform(0.1, 0.3)) for k in (5, 6)]  # cyan, orange: no block colour
    return still_scene(T, bd, tracks, walls)


# --- planning ------------------------------------------------------------------------------------------


def plan_split(spec: CausalVQASuiteSpec, split: str) -> list[Question]:
    """The questions of ``split``. Per type, the difficulty cycles through the 3 levels every 5 questions;
    the right colour (uniform over the 5 block colours) and everything else are drawn from
    ``(seed, split, type, number)``, so no question's answer depends on another's."""
    out = []
    for qtype in TYPES:
        base = [spec.seed, _SPLIT_CODE[split], _TYPE_CODE[qtype]]
        for k in range(spec.n_per_type(split)):
            answer = BLOCK_COLORS[int(np.random.default_rng([*base, 0, k]).integers(len(BLOCK_COLORS)))]
            difficulty = DIFFICULTIES[(k // 5) % 3]
            scene = build_scene(np.random.default_rng([*base, 1, k]), qtype, answer, difficulty, spec.n_frames)
            order = np.random.default_rng([*base, 2, k])
            options1 = tuple(int(c) for c in order.permutation(BLOCK_COLORS))
            while True:  # choices2: the same options reordered, the right one at another position
                options2 = tuple(int(c) for c in order.permutation(BLOCK_COLORS))
                if options2.index(answer) != options1.index(answer):
                    break
            key = f"{GENERATOR}|seed={spec.seed}|{split}|{qtype}|{k}"
            digest = hashlib.sha256(key.encode()).digest()
            out.append(Question(split, qtype, k, difficulty, answer, options1, options2, scene,
                                qid=str(uuid.UUID(bytes=digest[:16])), video=f"{digest[16:32].hex()}.mp4"))
    return out


def metadata_csv(spec: CausalVQASuiteSpec, split: str, questions: list[Question]) -> str:
    """The text of ``<split>_metadata.csv``: header + rows in a seeded shuffled order."""
    rows = [q.row() for q in questions]
    order = np.random.default_rng([spec.seed, _SPLIT_CODE[split], 3]).permutation(len(rows))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows[i] for i in order)
    return buf.getvalue()


def _manifest(spec: CausalVQASuiteSpec) -> dict:
    return {
        "generator": f"{GENERATOR} v{GENERATOR_VERSION}",
        "format": "CausalVQA release zip layout: CausalVQA/{debug,test}/{split}_metadata.csv + videos/",
        "spec": spec.to_json(),
        "questions": {s: spec.n_questions(s) for s in SPLITS},
        "videos": {s: spec.n_questions(s) for s in SPLITS},
        "labelled": list(LABELLED_SPLITS),
    }


# --- writing -------------------------------------------------------------------------------------------


def _render(args: tuple[CausalVQASuiteSpec, Question, str]) -> int:
    from pjbench.benchmarks.video import write_video

    spec, q, videos_dir = args
    write_video(Path(videos_dir) / q.video, render_scene(q.scene, spec.resolution), fps=spec.fps, crf=CRF)
    return 1


def write_suite(out_dir: str | os.PathLike, spec: CausalVQASuiteSpec, *, progress: bool = True,
                overwrite: bool = False, workers: int | None = None) -> Path:
    """Write the release ``spec`` under ``out_dir``; see :func:`pjbench.synthetic.write_causalvqa_suite`."""
    from pjbench.synthetic.intphys2 import _write_text

    out = Path(out_dir)
    wanted = _manifest(spec)
    root = out / ROOT

    def complete() -> bool:
        return all((root / s / f"{s}_metadata.csv").is_file()
                   and sum(1 for _ in (root / s / "videos").glob("*.mp4")) == spec.n_questions(s) for s in SPLITS)

    if prepare_suite_dir(out, wanted, (ROOT,), complete, overwrite):
        return out

    from tqdm.auto import tqdm

    questions = {s: plan_split(spec, s) for s in SPLITS}
    jobs = [(spec, q, str(root / s / "videos")) for s in SPLITS for q in questions[s]]
    for s in SPLITS:
        (root / s / "videos").mkdir(parents=True, exist_ok=True)
    with tqdm(total=len(jobs), unit="video", desc="synthetic CausalVQA", disable=not progress) as bar:
        for n in map_jobs(_render, jobs, workers):
            bar.update(n)
    for s in SPLITS:
        _write_text(root / s / f"{s}_metadata.csv", metadata_csv(spec, s, questions[s]))
    finish_suite_dir(out, wanted)
    return out
