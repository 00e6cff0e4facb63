"""Digest: the weekly digest (weeks, gathering, rendering, charts, delivery by SMTP or outbox)."""
