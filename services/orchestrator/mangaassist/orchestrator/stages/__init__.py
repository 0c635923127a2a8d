"""The stages of one request, each a module with typed inputs and outputs; ``pipeline.py``
runs them in order (and side by side where it can)."""
