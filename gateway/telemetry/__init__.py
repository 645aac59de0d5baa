"""In-process telemetry: per-release aggregates that feed Prometheus (and Redis batches)."""
