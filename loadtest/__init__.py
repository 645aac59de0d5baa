"""Load tools: rehearsals of canary splits and rollouts (`rehearsal/`, `turnout loadtest run`) and
the project's benchmark (Turnout against direct-to-upstream and a plain nginx reverse proxy,
`.venv/bin/python -m loadtest.bench`); see loadtest/README.md. Never imported by the gateway or
the control plane.
"""
