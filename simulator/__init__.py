"""A simulated OpenAI-compatible provider: real HTTP, canned but deterministic answers.

Used by `turnout up --demo`, the tests and the benchmark. Behaviour (latency, errors, a stall
between stream chunks) is set per upstream model through `POST /_sim/behaviour`.
"""
