"""Engines beyond the default thread pool, each in its own module (imported only when selected)."""
