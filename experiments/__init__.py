"""Experiments registry: read-only mapping from experiment name to module."""
