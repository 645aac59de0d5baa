"""Canary rollouts: the decision statistics and the controller that acts on them."""
