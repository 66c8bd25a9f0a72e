#!/usr/bin/env python
"""Print pjbench's performance ratios, measured side by side in one run (see pjbench.benchmarks.perf).

    python scripts/perf.py --out pjbench-perf            # full run, a few minutes on 2 cores
    python scripts/perf.py --out /tmp/perf --quick       # smoke test
"""

import sys

from pjbench.benchmarks.perf import main

if __name__ == "__main__":
    sys.exit(main())
