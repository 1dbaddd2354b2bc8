"""Export: guarded OTLP exporters and secret scrubbing."""
