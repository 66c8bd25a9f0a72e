"""Numpy renderer for :mod:`pjbench.synthetic.world` scenes: ``Scene`` -> ``uint8 (T, R, R, 3)`` RGB frames.

Pixel ``(i, j)`` of an ``R x R`` frame covers the view square ``[j/R, (j+1)/R] x [i/R, (i+1)/R]`` (view
units). Edges are anti-aliased analytically (pixel coverage from a signed distance for bodies, exact box
coverage for blocks), so a body moving by a fraction of a pixel changes the image by a proportional amount:
smooth motion gives small frame differences, and only a genuine event (a jump, a change) gives a large one.

The static parts (backdrop, walls, screens) are drawn once over the whole world, ``R`` pixels per view
unit, and each frame takes the camera's window out of them with sub-pixel (linear) interpolation, so a
camera pan is smooth as well; sliding screens are drawn in each frame at their place. Screens are
composited with premultiplied alpha; inside a screen alpha is exactly 1.0, so whatever a screen hides
leaves no trace in the pixels (the occluded IntPhys splices rely on this to be pixel-identical).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from pjbench.synthetic.world import Backdrop, Block, Body, Scene


def render_scene(scene: Scene, resolution: int) -> np.ndarray:
    """Render every frame of ``scene`` at ``resolution x resolution`` pixels: ``uint8 (T, R, R, 3)``."""
    r = int(resolution)
    if r < 8:
        raise ValueError(f"resolution must be >= 8, got {resolution}")
    world_px = int(math.ceil(scene.world_width * r)) + 2  # +2: room for the interpolation's right neighbour
    back = draw_backdrop(scene.backdrop, r, world_px)
    screens = [b for b in scene.blocks if b.layer == "screen" and not b.vx]
    sliding = [b for b in scene.blocks if b.layer == "screen" and b.vx]
    for block in scene.blocks:
        if block.layer == "wall":
            cover = block_coverage(block, r, world_px)
            back += cover[..., None] * (np.asarray(block.color, np.float32) - back)
    alpha = np.zeros((r, world_px), np.float32)
    premult = np.zeros((r, world_px, 3), np.float32)
    for block in screens:  # screens over screens: ordinary "over" compositing, premultiplied
        alpha, premult = _over(alpha, premult, block_coverage(block, r, world_px), block.color)

    out = np.empty((scene.n_frames, r, r, 3), np.uint8)
    for t in range(scene.n_frames):
        ox = float(scene.camera_x[t]) * r
        frame = window(back, ox, r)
        for track in scene.tracks:
            if track.present[t]:
                draw_body(frame, track.body, *_to_view_px(track.xy[t], scene.camera_x[t], r), r)
        if screens or sliding:
            a, pm = (window(alpha, ox, r), window(premult, ox, r)) if screens else (
                np.zeros((r, r), np.float32), np.zeros((r, r, 3), np.float32))
            for block in sliding:  # drawn at their place in this frame, in view pixels (exact box coverage)
                shift = block.vx * t - float(scene.camera_x[t])
                cover = block_coverage(replace(block, x0=block.x0 + shift, x1=block.x1 + shift), r, r)
                a, pm = _over(a, pm, cover, block.color)
            # frame * (1 - 1) + premult is exactly premult inside a screen: no trace of what is behind it.
            frame *= 1.0 - a[..., None]
            frame += pm
        for track in scene.distractors:
            if track.present[t]:
                draw_body(frame, track.body, *_to_view_px(track.xy[t], scene.camera_x[t], r), r)
        np.rint(frame, out=frame)
        np.clip(frame, 0, 255, out=frame)
        out[t] = frame
    return out


def _over(alpha: np.ndarray, premult: np.ndarray, cover: np.ndarray, color) -> tuple[np.ndarray, np.ndarray]:
    """A layer of coverage ``cover`` and colour ``color`` composited over ``(alpha, premult)``."""
    premult = premult * (1 - cover[..., None]) + cover[..., None] * np.asarray(color, np.float32)
    return alpha * (1 - cover) + cover, premult


def _to_view_px(xy: np.ndarray, camera_x: float, r: int) -> tuple[float, float]:
    """World centre (view units) -> view pixel coordinates (continuous; pixel centres at ``k + 0.5``)."""
    return (float(xy[0]) - float(camera_x)) * r, float(xy[1]) * r


def window(layer: np.ndarray, ox: float, width: int) -> np.ndarray:
    """Columns ``[ox, ox + width)`` of ``layer`` (``(H, W, ...)``), linearly interpolated for fractional ``ox``.

    Returns a new float32 array. Written as ``a + f (b - a)`` so that equal neighbours give exactly that
    value (alpha 1.0 stays 1.0).
    """
    i = int(math.floor(ox))
    f = np.float32(ox - i)
    a = layer[:, i : i + width]
    if a.shape[1] != width:
        raise ValueError(f"camera window [{ox}, {ox + width}) leaves the rendered world ({layer.shape[1]} px)")
    if f == 0:
        return a.astype(np.float32, copy=True)
    b = layer[:, i + 1 : i + 1 + width]
    return a + f * (b - a)


def draw_backdrop(backdrop: Backdrop, r: int, world_px: int) -> np.ndarray:
    """Back wall and floor over the whole world: ``float32 (r, world_px, 3)``."""
    rows = (np.arange(r, dtype=np.float32) + 0.5) / r
    # fraction of each pixel row below the floor line: an anti-aliased horizon
    floor_cover = np.clip((rows - backdrop.floor_y) * r + 0.5, 0, 1)[:, None, None]
    wall = np.asarray(backdrop.wall_color, np.float32)
    floor = np.asarray(backdrop.floor_color, np.float32)
    img = np.broadcast_to(wall + floor_cover * (floor - wall), (r, world_px, 3)).astype(np.float32)
    if backdrop.texture_amp > 0:
        rng = np.random.default_rng(backdrop.texture_seed)
        img = img + texture(rng, r, world_px, backdrop.texture_amp)
        # the floor gets its own pattern, so the horizon stays a visible edge
        img = img + floor_cover * texture(rng, r, world_px, 0.8 * backdrop.texture_amp)
        np.clip(img, 0, 255, out=img)
    return img


def texture(rng: np.random.Generator, r: int, world_px: int, amp: float, n_waves: int = 7) -> np.ndarray:
    """Smooth random colour texture, ``float32 (r, world_px, 3)``, zero mean, std about ``amp`` per channel.

    A sum of plane waves of 1 to 6 cycles per view unit with random directions and colour tints. It is
    defined in view units, so the same seed draws the same picture at every resolution, and low
    frequencies keep the per-frame change of a slow camera pan small.
    """
    y = ((np.arange(r, dtype=np.float32) + 0.5) / r)[:, None]
    x = ((np.arange(world_px, dtype=np.float32) + 0.5) / r)[None, :]
    out = np.zeros((r, world_px, 3), np.float32)
    weights = rng.uniform(0.4, 1.0, n_waves)
    norm = amp / math.sqrt(float((weights**2).sum()) / 2)  # std of a sum of sines = sqrt(sum w^2 / 2)
    for w in weights:
        freq = rng.uniform(1.0, 6.0)
        theta = rng.uniform(0, math.pi)
        phase = rng.uniform(0, 2 * math.pi)
        tint = rng.uniform(0.5, 1.0, 3).astype(np.float32)
        wave = np.sin(2 * math.pi * freq * (x * math.cos(theta) + y * math.sin(theta)) + phase)
        out += (norm * w) * wave[..., None] * tint
    return out


def block_coverage(block: Block, r: int, world_px: int) -> np.ndarray:
    """Exact fraction of each world pixel covered by ``block``: ``float32 (r, world_px)`` in [0, 1]."""

    def cover_1d(lo: float, hi: float, n: int) -> np.ndarray:
        edges = np.arange(n, dtype=np.float64)
        return np.clip(np.minimum(edges + 1, hi * r) - np.maximum(edges, lo * r), 0, 1).astype(np.float32)

    return cover_1d(block.y0, block.y1, r)[:, None] * cover_1d(block.x0, block.x1, world_px)[None, :]


def draw_body(frame: np.ndarray, body: Body, cx: float, cy: float, r: int) -> None:
    """Blend ``body`` centred at view pixel ``(cx, cy)`` into ``frame`` (``float32 (H, W, 3)``), in place."""
    h, w = frame.shape[:2]
    reach = max(body.half_width, body.above, body.below) * r + 1.5
    x0, x1 = max(0, int(cx - reach)), min(w, int(math.ceil(cx + reach)))
    y0, y1 = max(0, int(cy - reach)), min(h, int(math.ceil(cy + reach)))
    if x0 >= x1 or y0 >= y1:
        return  # entirely outside the view
    dx = (np.arange(x0, x1, dtype=np.float32) + 0.5 - cx)[None, :]
    dy = (np.arange(y0, y1, dtype=np.float32) + 0.5 - cy)[:, None]
    sd = signed_distance(body, dx, dy, body.radius * r)
    cover = np.clip(0.5 - sd, 0, 1)[..., None]  # about one pixel of anti-aliasing across the outline
    patch = frame[y0:y1, x0:x1]
    patch += cover * (np.asarray(body.color, np.float32) - patch)


def signed_distance(body: Body, dx: np.ndarray, dy: np.ndarray, radius_px: float) -> np.ndarray:
    """Signed distance (pixels, negative inside) from offsets ``(dx, dy)`` (pixels, y down) to ``body``'s
    outline, for a body of radius ``radius_px``. Broadcasts ``dx (1, W)`` with ``dy (H, 1)``."""
    if body.shape == "disc":
        return np.sqrt(dx * dx + dy * dy) - radius_px
    if body.shape == "square":
        half = body.half_width / body.radius * radius_px
        qx, qy = np.abs(dx) - half, np.abs(dy) - half
        outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
        return outside + np.minimum(np.maximum(qx, qy), 0)
    if body.shape == "triangle":
        # equilateral triangle, apex up, centroid at the origin (Quilez's exact distance, y up)
        a = body.half_width / body.radius * radius_px  # half side
        k = math.sqrt(3.0)
        px = np.abs(dx) - a
        py = -dy + a / k
        fold = px + k * py > 0
        px, py = np.where(fold, (px - k * py) / 2, px), np.where(fold, (-k * px - py) / 2, py)
        px = px - np.clip(px, -2 * a, 0)
        return -np.sqrt(px * px + py * py) * np.sign(py)
    raise ValueError(f"unknown shape {body.shape!r}")
