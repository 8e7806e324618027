"""Phases on the local Docker Engine: build, push to a registry, run the container; the engine and registry clients."""
