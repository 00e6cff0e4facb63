"""Dedup: near-duplicate signatures and the index that finds copies of a text."""
