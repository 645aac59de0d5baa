"""Needs-review items: every emergency change stays open until someone acknowledges it."""
