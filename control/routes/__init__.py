"""Routes: pure weight rules and state transitions, atomic changes, reading, audit, resolve."""
