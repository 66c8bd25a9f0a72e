"""A two-alternative surprise benchmark on its own tiny format (an example of a pjbench task plugin)."""
