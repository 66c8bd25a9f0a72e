"""The official release formats the synthetic world can write (``pjbench synth --benchmark``), and the
writer options each takes beyond the common ones. Cheap to import (the CLI reads it to build its help)."""

# format name -> the writer's function name in pjbench.synthetic
WRITERS = {"intphys2": "write_intphys2_suite", "mvpbench": "write_mvpbench_suite", "causalvqa": "write_causalvqa_suite"}
DEFAULT_FORMAT = next(iter(WRITERS))
