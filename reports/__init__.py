"""HTML reports from results files: ``build_report(run_dirs, out)`` (``pjbench report``).

Reads only results files; never imports encoders, probes or tasks.
"""

from __future__ import annotations

from pjbench.reports.builder import build_report

__all__ = ["build_report"]
