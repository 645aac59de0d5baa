"""Blast radius: the calls, users, errors and thumbs-down each release reached."""
