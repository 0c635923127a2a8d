"""Latency budgets, bottleneck analysis and the detector process.

Kept apart from ``mangaassist.common`` so the service images do not carry its
dependencies (numpy for the statistics, CloudWatch/X-Ray clients for the detector).
"""
