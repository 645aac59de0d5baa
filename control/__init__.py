"""Turnout control plane: registry, atomic audited route changes, admin API, rollouts.

Imports only `gateway.contract` from the data plane.
"""
