"""The IntPhys (2019) dev loader on quadruplets of four DISTINCT movies (PNG frame folders in the official
`{O1,O2,O3}/<scene>/<1..4>/scene/*.png` + `status.json` layout).

Each quadruplet is built like the real one: two possible movies (a bright square resting at position A, or
at B, for the whole movie) and two impossible splices of them (A for the first half then B: a teleport; and
B then A). The four movies are assigned to the folders 1-4 in a different order per scene, so the labels
are not positional: a loader that paired movies by position, or read the wrong folder's frames or the wrong
status.json, gives other labels / other scores than the ones written here."""

from __future__ import annotations

import json
import struct
import zlib
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import torch

from pjbench.benchmarks.video import read_frame_folder
from pjbench.intphys2.intphys2019 import load_dev

SIZE, SQUARE, N_FRAMES, JUMP = 32, 8, 12, 6
# scene -> (block, position A, position B, movie kinds in folder order 1..4)
SCENES = {
    ("O1", "01"): ((2, 2), (20, 20), ("AA", "AB", "BA", "BB")),
    ("O1", "02"): ((2, 20), (20, 2), ("AB", "AA", "BB", "BA")),
    ("O2", "07"): ((12, 2), (12, 22), ("BB", "BA", "AA", "AB")),
    ("O3", "10"): ((22, 12), (2, 12), ("BA", "BB", "AB", "AA")),
}
CONDITION = {"O1": "permanence", "O2": "immutability", "O3": "continuity"}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def write_png(path: Path, image: np.ndarray) -> None:
    """A plain RGB PNG (8 bit, no filter), written by hand so that the fixture owes nothing to pjbench."""
    h, w, _ = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def frame(pos) -> np.ndarray:
    img = np.full((SIZE, SIZE, 3), 20, np.uint8)
    y, x = pos
    img[y:y + SQUARE, x:x + SQUARE] = 235
    return img


def movie_positions(kind: str, a, b) -> list:
    first, second = (a if kind[0] == "A" else b), (a if kind[1] == "A" else b)
    return [first if t < JUMP else second for t in range(N_FRAMES)]


@pytest.fixture(scope="module")
def dev(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("intphys2019") / "dev"
    truth = {}
    for (block, scene), (a, b, kinds) in SCENES.items():
        for movie, kind in zip("1234", kinds):
            movie_dir = root / block / scene / movie
            positions = movie_positions(kind, a, b)
            for t, pos in enumerate(positions, start=1):
                write_png(movie_dir / "scene" / f"scene_{t:03d}.png", frame(pos))
            possible = kind[0] == kind[1]
            (movie_dir / "status.json").write_text(json.dumps({"header": {"is_possible": possible}, "frames": []}))
            truth[f"{block}/{scene}/{movie}"] = {"label": int(possible), "positions": positions, "kind": kind}
    return root, truth


def _square_at(img: np.ndarray):
    ys, xs = np.nonzero(img[:, :, 0] > 128)
    return int(ys.min()), int(xs.min())


def test_the_four_movies_of_a_quadruplet_are_distinct(dev):
    root, truth = dev
    for (block, scene), _ in SCENES.items():
        clips = [read_frame_folder(root / block / scene / m / "scene") for m in "1234"]
        for i, j in combinations(range(4), 2):
            assert not np.array_equal(clips[i], clips[j]), (block, scene, i + 1, j + 1)


def test_loader_pairs_the_quadruplet_with_the_labels_of_status_json(dev):
    root, truth = dev
    items = load_dev(root)
    assert [it.name for it in items] == list(truth)  # block, scene, movie order
    assert {it.name: it.label for it in items} == {n: t["label"] for n, t in truth.items()}
    # labels are not positional: movie 1 is possible in one scene and impossible in another
    assert {t["label"] for n, t in truth.items() if n.endswith("/1")} == {0, 1}
    for it in items:
        block, scene, movie = it.name.split("/")
        assert it.pair_id == it.cluster == f"{block}/{scene}"
        assert it.split == "dev" and it.strata == {"block": block, "condition": CONDITION[block]}
        assert Path(it.path) == (root / block / scene / movie / "scene").absolute()
    by_pair = {}
    for it in items:
        by_pair.setdefault(it.pair_id, []).append(it.label)
    assert {p: sorted(v) for p, v in by_pair.items()} == {f"{b}/{s}": [0, 0, 1, 1] for b, s in SCENES}


def test_each_item_reads_its_own_movie(dev):
    root, truth = dev
    for it in load_dev(root):
        frames = read_frame_folder(it.path)
        assert frames.shape == (N_FRAMES, SIZE, SIZE, 3)
        assert [_square_at(f) for f in frames] == [tuple(p) for p in truth[it.name]["positions"]]


def test_limit_keeps_whole_quadruplets(dev):
    root, truth = dev
    items = load_dev(root, limit=2)
    assert [it.name for it in items] == list(truth)[:8]


def test_a_scorer_that_sees_the_frames_ranks_impossible_above_possible(dev, tmp_path):
    """pixel-copy-last (future = last context frame): a resting square is never surprising, a teleport is."""
    from pjbench.benchmarks.api import evaluate

    root, truth = dev
    results, _ = evaluate("pixel-copy-last", root, tmp_path / "run", task="intphys2019", frame_step=1, window=8,
                          n_boot=200, progress=False, workers=0)
    items = {json.loads(x)["name"]: json.loads(x) for x in (tmp_path / "run" / "items.jsonl").read_text().splitlines()}
    assert set(items) == set(truth)
    for name, r in items.items():
        assert r["label"] == truth[name]["label"]
        if truth[name]["label"] == 1:
            assert r["scores"]["avg"] == pytest.approx(0.0, abs=1e-6), name
        else:
            assert r["scores"]["avg"] > 1e-3, name
    pa = results.metric("pairwise_accuracy", "avg")
    assert pa.n == len(SCENES) and pa.value == 1.0

    # the fixture discriminates: with positional labels (1, 0, 0, 1 for movies 1-4, what a loader assuming
    # the order would use) the same scores give a different pairwise accuracy, computed by hand
    positional = {"1": 1, "2": 0, "3": 0, "4": 1}

    def by_hand(label_of):
        per_pair = {}
        for name, r in items.items():
            per_pair.setdefault(name.rsplit("/", 1)[0], []).append((label_of(name), r["scores"]["avg"]))
        accs = []
        for rows in per_pair.values():
            poss = [s for lab, s in rows if lab == 1]
            imp = [s for lab, s in rows if lab == 0]
            accs.append(np.mean([i > p for i in imp for p in poss]))
        return float(np.mean(accs))

    assert by_hand(lambda n: truth[n]["label"]) == 1.0
    assert by_hand(lambda n: positional[n.rsplit("/", 1)[1]]) < 1.0
