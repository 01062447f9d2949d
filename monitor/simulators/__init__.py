"""Fake vendor APIs on loopback, one per provider type, for tests, `loadwatch demo`
and benchmarks."""
