"""Backups of the whole registry: `export` writes one, `restore` re-seeds Redis from one (or
from a gateway's last-known-good snapshot.json)."""
