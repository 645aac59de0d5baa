"""Freeze and release windows: when route changes that add risk are refused."""
