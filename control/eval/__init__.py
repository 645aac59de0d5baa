"""The eval gate: datasets, scorers, the runner, and the paired non-inferiority verdict.

The statistics (`bootstrap`, `signed_rank`, `proportion`, `verdict`) are pure functions of their
inputs and a seed; the runner and the gate store wrap them in I/O.
"""
