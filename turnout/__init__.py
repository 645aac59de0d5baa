"""Process entry points: the `turnout` CLI and `turnout up`, composing data and control planes."""
