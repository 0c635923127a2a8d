"""Retrieval service: filtered vector search over the manga catalog."""
