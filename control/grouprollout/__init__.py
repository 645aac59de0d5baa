"""Canary rollouts of a route group: every route moved in one change set, judged together."""
