"""Seeded signal generators and tiny corpora shared by tests and benchmarks."""
