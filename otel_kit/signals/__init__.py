"""Signals: business, security, AI and system instruments, all OpenTelemetry-native."""
