"""Inference service: streams answers from a foundation-model backend."""
