"""What must not leave the process, removed: SQL literals (``sql``) and secrets in attributes, log
bodies, URLs and exception text (``scrubbing``).

The bottom layer: plain functions over strings and attribute values, used by the integrations (SQL
spans), the signals (security findings, AI content), the analysis (query fingerprints) and the export
(every span and log record on its way out).
"""
