"""Per-release quality statistics over a time window, read from the gateways' telemetry buckets."""
