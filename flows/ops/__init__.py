"""Ops: running unattended (serve), daily maintenance and the setup checks (doctor)."""
