"""Route groups: routes sharing one bucketing salt, changed together by atomic change sets."""
