"""Turnout data plane: the OpenAI-compatible hot path. Never imports `control`."""
