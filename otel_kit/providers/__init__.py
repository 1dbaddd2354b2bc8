"""Providers: the OpenTelemetry SDK objects built from the resolved settings."""
