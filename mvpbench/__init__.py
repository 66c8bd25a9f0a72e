"""MVPBench (Krojer et al. 2025): minimal video pairs, two-choice questions, pair accuracy."""
