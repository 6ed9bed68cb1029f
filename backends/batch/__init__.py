"""Batch systems: where jobs run."""
