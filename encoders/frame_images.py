"""Frames as images for an HTTP request: JPEG (PyAV's mjpeg encoder) or PNG (zlib), and the per-frame
pixel cap. Used by the OpenAI-compatible backend; no network code here."""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from typing import Sequence

import av
import numpy as np

__all__ = ["IMAGE_FORMATS", "JPEG_QSCALE", "encode_jpeg", "encode_png", "fit_max_pixels"]

JPEG_QSCALE = 2  # ffmpeg's ``-q:v 2``: the high-quality end of the MJPEG scale (2 best .. 31 worst)
IMAGE_FORMATS = {"jpeg": "image/jpeg", "png": "image/png"}

def fit_max_pixels(frame: np.ndarray, max_pixels: int | None) -> np.ndarray:
    """``frame`` (uint8 ``H x W x 3``) resized, keeping the aspect, so ``H * W <= max_pixels`` (area
    interpolation, with PyAV's swscale); unchanged when it already fits or ``max_pixels`` is None."""
    h, w = frame.shape[:2]
    if max_pixels is None or h * w <= max_pixels:
        return frame
    scale = (max_pixels / (h * w)) ** 0.5
    nw, nh = max(1, int(w * scale)), max(1, int(h * scale))
    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
    return vf.reformat(width=nw, height=nh, format="rgb24", interpolation="AREA").to_ndarray()


def encode_jpeg(frames: Sequence[np.ndarray] | np.ndarray) -> list[bytes]:
    """One baseline JPEG per uint8 ``H x W x 3`` RGB frame, with PyAV's ``mjpeg`` encoder (``yuvj420p``,
    full range, quality ``-q:v 2``).

    4:2:0 chroma needs even sides, so a frame with an odd height or width is **padded by one pixel** (the
    last row / column repeated) before encoding: the JPEG of a 63 x 95 frame is 64 x 96. Nothing is cropped.
    """
    out: list[bytes] = []
    ctx = None
    for i, frame in enumerate(frames):
        frame = np.asarray(frame)
        h, w = frame.shape[:2]
        if h % 2 or w % 2:
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        h, w = frame.shape[:2]
        if ctx is None or (ctx.width, ctx.height) != (w, h):
            if ctx is not None:
                out += [bytes(p) for p in ctx.encode(None)]
            ctx = av.CodecContext.create("mjpeg", "w")
            ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuvj420p"
            ctx.time_base = Fraction(1, 25)
            ctx.qmin = ctx.qmax = JPEG_QSCALE
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24").reformat(format="yuvj420p")
        vf.pts = i
        out += [bytes(p) for p in ctx.encode(vf)]
    if ctx is not None:
        out += [bytes(p) for p in ctx.encode(None)]
    if len(out) != len(frames):
        raise RuntimeError(f"the mjpeg encoder returned {len(out)} images for {len(frames)} frames")
    return out


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(frame: np.ndarray, level: int = 6) -> bytes:
    """A PNG (8-bit RGB, no interlace, filter type 0 on every row) of a uint8 ``H x W x 3`` frame, written
    with zlib and struct: lossless, any size."""
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    h, w = frame.shape[:2]
    rows = np.concatenate([np.zeros((h, 1), np.uint8), frame.reshape(h, w * 3)], axis=1)  # filter byte 0
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), level)) + _png_chunk(b"IEND", b""))
