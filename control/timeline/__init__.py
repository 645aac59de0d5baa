"""Postmortem timelines: one ordered story of a route's changes, decisions, windows,
notifications, traffic and reach over an interval."""
