"""The project's benchmark: Turnout against direct-to-upstream and a plain nginx reverse proxy.

Run with `.venv/bin/python -m loadtest.bench`; see loadtest/README.md. Never imported by the
gateway or the control plane.
"""
