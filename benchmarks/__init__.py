"""Core of pjbench: registries, video decoding, results schema, bootstrap, run orchestration, CLI."""
