"""Side-by-side benchmarks against the peers and the design's claims of decision 0008
(``python -m bench.peers``).

Each suite is a module of this package with ``run(quick, reps, progress)`` and
``markdown(result, plots_dir)``; the runner (``__main__``) runs them, writes
``bench/results/peers.json`` and regenerates ``BENCHMARKS.md`` from that file alone.
"""
