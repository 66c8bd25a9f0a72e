#!/usr/bin/env python3
"""Regenerate the README's picture: render the demo's report and save a small PNG of its top.

    python scripts/screenshot_report.py [DEMO_DIR] [--out docs/report.png]

DEMO_DIR is the folder `pjbench demo --out DEMO_DIR` wrote (default: pjbench-demo; its runs/ are
re-rendered, the model is not re-run). Needs the test extra (selenium) and Debian's chromium +
chromium-driver. The PNG is quantised to a small palette when Pillow is available.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("demo_dir", nargs="?", default="pjbench-demo", type=Path)
    ap.add_argument("--out", default=Path("docs/report.png"), type=Path)
    ap.add_argument("--width", type=int, default=1100)
    ap.add_argument("--height", type=int, default=820)
    args = ap.parse_args(argv)

    from pjbench.reports import build_report
    from pjbench.reports.browser import screenshot

    runs = args.demo_dir / "runs"
    if not runs.is_dir():
        print(f"{runs}: no such folder; run `pjbench demo --out {args.demo_dir}` first", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        html = build_report([runs], Path(tmp) / "report.html", title="pjbench demo: synthetic IntPhys 2, MVPBench, CausalVQA suites",
                            exports=False)
        png = screenshot(html, args.out, width=args.width, height=args.height)
    try:  # a palette PNG is a fraction of the size and looks the same for a flat page
        from PIL import Image

        with Image.open(png) as im:
            im.convert("RGB").quantize(colors=64).save(png, optimize=True)
    except ImportError:
        pass
    print(f"{png} ({png.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
