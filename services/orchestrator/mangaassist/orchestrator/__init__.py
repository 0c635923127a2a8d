"""Orchestrator: the WebSocket front door that fans out to the mesh and streams answers."""
