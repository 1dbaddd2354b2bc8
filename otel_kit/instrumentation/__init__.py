"""Instrumentation: one module per integration, each imported only when its library is present."""
