"""Rehearsals of canary splits and rollouts (`turnout loadtest run`): scenario files, the
open-loop generator, the watchers, and the HTML + JSON report. Never imported by the gateway or
the control plane."""
