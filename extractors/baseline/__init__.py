"""Baseline: the seed documents, whose text is already extracted."""
