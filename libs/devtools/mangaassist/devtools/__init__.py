"""Developer tooling: start/stop the local cluster for `make up`, tests and benchmarks.

Not imported by any service.
"""
