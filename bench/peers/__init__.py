"""Side-by-side benchmarks against peers (issue 11)."""
