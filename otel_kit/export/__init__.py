"""Export: guarded OTLP exporters; every span and log record is scrubbed (``otel_kit.redaction``) on its way out."""
