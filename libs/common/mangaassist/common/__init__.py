"""Shared code for every MangaAssist service: settings, logging, telemetry, gRPC helpers.

This package knows no service: services depend on it, never the other way round.
"""
