"""Webhooks: route events delivered to subscribers, signed, retried, never delaying a flip."""
