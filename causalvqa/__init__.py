"""CausalVQA (Foss et al. 2025): five-option causal questions on Ego-Exo4D clips, each asked twice."""
