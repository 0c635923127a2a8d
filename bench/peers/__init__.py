"""Side-by-side benchmarks against the peers and the seed's claims (``python -m bench.peers``).

Each suite is a module of this package with ``run(quick, reps, progress)`` and
``markdown(result, plots_dir)``; the runner (``__main__``) runs them, writes
``bench/results/peers.json`` and regenerates ``BENCHMARKS.md`` from that file alone.
"""
