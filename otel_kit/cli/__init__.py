"""The otel-kit command line."""
