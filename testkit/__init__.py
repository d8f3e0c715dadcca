"""Test and benchmark tooling: loopback servers and data generators. Never used by the pipeline."""
