"""The operator dashboard: static assets shipped in the package, served at `/ui`."""
