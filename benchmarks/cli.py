"""``pjbench`` command line. Parses arguments, calls :mod:`pjbench.benchmarks.api`, prints paths.

User mistakes (bad paths, unknown names, malformed data) exit with a one-line ``Error:`` message and
status 1, never a traceback; set ``PJBENCH_DEBUG=1`` to see the traceback anyway.
"""


from pjbench.benchmarks import cli_data, cli_eval, cli_results  # noqa: F401  (each registers its commands on main)
from pjbench.benchmarks.cli_common import main

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    main()
