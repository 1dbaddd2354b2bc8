"""Every environment variable otel-kit reads, in one place.

Each setting resolves as: ``setup()`` argument > ``OTEL_KIT_*`` variable > standard ``OTEL_*``
variable > default. The standard names below are the OpenTelemetry SDK's; otel-kit reads them
itself so that an invalid value warns once and falls back instead of raising inside the SDK.
"""

from __future__ import annotations

# --- otel-kit's own variables -------------------------------------------------------------
OTEL_KIT_SERVICE_NAME = "OTEL_KIT_SERVICE_NAME"
OTEL_KIT_SERVICE_VERSION = "OTEL_KIT_SERVICE_VERSION"
OTEL_KIT_ENVIRONMENT = "OTEL_KIT_ENVIRONMENT"
OTEL_KIT_ENDPOINT = "OTEL_KIT_ENDPOINT"
OTEL_KIT_PROTOCOL = "OTEL_KIT_PROTOCOL"
OTEL_KIT_HEADERS = "OTEL_KIT_HEADERS"
OTEL_KIT_INSECURE = "OTEL_KIT_INSECURE"
OTEL_KIT_EXPORT_TIMEOUT = "OTEL_KIT_EXPORT_TIMEOUT"
OTEL_KIT_SAMPLE_RATIO = "OTEL_KIT_SAMPLE_RATIO"
OTEL_KIT_TRACES = "OTEL_KIT_TRACES"
OTEL_KIT_METRICS = "OTEL_KIT_METRICS"
OTEL_KIT_LOGS = "OTEL_KIT_LOGS"
OTEL_KIT_CONSOLE = "OTEL_KIT_CONSOLE"
OTEL_KIT_METRIC_INTERVAL = "OTEL_KIT_METRIC_INTERVAL"
OTEL_KIT_INSTRUMENT = "OTEL_KIT_INSTRUMENT"
OTEL_KIT_LOG_LEVEL = "OTEL_KIT_LOG_LEVEL"
OTEL_KIT_LOG_FORMAT = "OTEL_KIT_LOG_FORMAT"
OTEL_KIT_LOG_FILE = "OTEL_KIT_LOG_FILE"
OTEL_KIT_SHUTDOWN_TIMEOUT = "OTEL_KIT_SHUTDOWN_TIMEOUT"
OTEL_KIT_FASTAPI_TELEMETRY = "OTEL_KIT_FASTAPI_TELEMETRY"
OTEL_KIT_EXCLUDED_URLS = "OTEL_KIT_EXCLUDED_URLS"
OTEL_KIT_SYSTEM_METRICS = "OTEL_KIT_SYSTEM_METRICS"
OTEL_KIT_SECURITY = "OTEL_KIT_SECURITY"
OTEL_KIT_SECURITY_ENFORCE = "OTEL_KIT_SECURITY_ENFORCE"
OTEL_KIT_AUDIT_KEY = "OTEL_KIT_AUDIT_KEY"
OTEL_KIT_HEALTH = "OTEL_KIT_HEALTH"
OTEL_KIT_HEALTH_CHECK_INTERVAL = "OTEL_KIT_HEALTH_CHECK_INTERVAL"
"""Seconds between background runs of the component health checks (0 runs them only on request)."""
OTEL_KIT_SLOW_QUERIES = "OTEL_KIT_SLOW_QUERIES"
OTEL_KIT_SLOW_QUERY_MS = "OTEL_KIT_SLOW_QUERY_MS"
OTEL_KIT_N_PLUS_ONE = "OTEL_KIT_N_PLUS_ONE"
OTEL_KIT_CAPTURE_QUERY_TEXT = "OTEL_KIT_CAPTURE_QUERY_TEXT"
OTEL_KIT_AI_CAPTURE_CONTENT = "OTEL_KIT_AI_CAPTURE_CONTENT"
OTEL_KIT_AI_PRICES_FILE = "OTEL_KIT_AI_PRICES_FILE"  # JSON {"model": {"input": USD/Mtok, "output": ..., "cache_read": ..., "cache_write": ...}}
OTEL_KIT_SCRUB = "OTEL_KIT_SCRUB"
OTEL_KIT_EXPORT_BUFFER_MB = "OTEL_KIT_EXPORT_BUFFER_MB"
"""Memory bound of the per-signal retry buffer that keeps failed exports for re-sending (MB)."""
OTEL_KIT_EXPORT_SPOOL_DIR = "OTEL_KIT_EXPORT_SPOOL_DIR"
"""Directory where batches that do not fit the retry buffer, or are unsent at exit, are kept on disk."""
OTEL_KIT_EXPORT_SPOOL_MB = "OTEL_KIT_EXPORT_SPOOL_MB"
"""Disk bound of the spool directory per signal (MB)."""
OTEL_KIT_HOME = "OTEL_KIT_HOME"
"""Where ``otel-kit stack`` caches built binaries, data and logs (default ``~/.cache/otel-kit``)."""

# --- standard OpenTelemetry variables -----------------------------------------------------
OTEL_SDK_DISABLED = "OTEL_SDK_DISABLED"
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
OTEL_RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"
OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_EXPORTER_OTLP_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
OTEL_EXPORTER_OTLP_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"
OTEL_EXPORTER_OTLP_INSECURE = "OTEL_EXPORTER_OTLP_INSECURE"
OTEL_EXPORTER_OTLP_TIMEOUT = "OTEL_EXPORTER_OTLP_TIMEOUT"
OTEL_EXPORTER_OTLP_COMPRESSION = "OTEL_EXPORTER_OTLP_COMPRESSION"
OTEL_EXPORTER_OTLP_CERTIFICATE = "OTEL_EXPORTER_OTLP_CERTIFICATE"
OTEL_EXPORTER_OTLP_CLIENT_KEY = "OTEL_EXPORTER_OTLP_CLIENT_KEY"
OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
OTEL_TRACES_SAMPLER = "OTEL_TRACES_SAMPLER"
OTEL_TRACES_SAMPLER_ARG = "OTEL_TRACES_SAMPLER_ARG"
OTEL_METRIC_EXPORT_INTERVAL = "OTEL_METRIC_EXPORT_INTERVAL"
OTEL_LOG_LEVEL = "OTEL_LOG_LEVEL"
OTEL_PYTHON_DISABLED_INSTRUMENTATIONS = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
OTEL_BSP_SCHEDULE_DELAY = "OTEL_BSP_SCHEDULE_DELAY"
OTEL_BSP_MAX_QUEUE_SIZE = "OTEL_BSP_MAX_QUEUE_SIZE"
OTEL_BSP_MAX_EXPORT_BATCH_SIZE = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
OTEL_BLRP_SCHEDULE_DELAY = "OTEL_BLRP_SCHEDULE_DELAY"
OTEL_BLRP_MAX_QUEUE_SIZE = "OTEL_BLRP_MAX_QUEUE_SIZE"
OTEL_BLRP_MAX_EXPORT_BATCH_SIZE = "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"

# Attribute and collection limits. SDK 1.45 reads all ten (SpanLimits the first eight, LogRecordLimits
# the two global ones and the two LOGRECORD ones) and raises on a value that is not a non-negative
# integer; otel-kit reads them instead and hands the SDK explicit limits.
OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT = "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"
OTEL_ATTRIBUTE_COUNT_LIMIT = "OTEL_ATTRIBUTE_COUNT_LIMIT"
OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT = "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT"
OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT = "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT"
OTEL_SPAN_EVENT_COUNT_LIMIT = "OTEL_SPAN_EVENT_COUNT_LIMIT"
OTEL_SPAN_LINK_COUNT_LIMIT = "OTEL_SPAN_LINK_COUNT_LIMIT"
OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT = "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT"
OTEL_LINK_ATTRIBUTE_COUNT_LIMIT = "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT"
OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT = "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT"
OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT = "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT"
LIMIT_VARIABLES = (
    OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT,
    OTEL_ATTRIBUTE_COUNT_LIMIT,
    OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT,
    OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT,
    OTEL_SPAN_EVENT_COUNT_LIMIT,
    OTEL_SPAN_LINK_COUNT_LIMIT,
    OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT,
    OTEL_LINK_ATTRIBUTE_COUNT_LIMIT,
    OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT,
    OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT,
)

SIGNALS = ("TRACES", "METRICS", "LOGS")


def per_signal(template: str, signal: str) -> str:
    """``OTEL_EXPORTER_OTLP_ENDPOINT`` + ``TRACES`` -> ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``."""
    prefix = "OTEL_EXPORTER_OTLP_"
    return prefix + signal + "_" + template[len(prefix) :]


def exporter_variable(signal: str) -> str:
    """``OTEL_TRACES_EXPORTER`` and friends: ``otlp``, ``console`` or ``none``."""
    return f"OTEL_{signal}_EXPORTER"

# --- the endpoints' tokens and the local stack (read by the routers and the CLI) -------------
OTEL_KIT_HEALTH_TOKEN = "OTEL_KIT_HEALTH_TOKEN"
"""Token for ``/health/detailed`` (``Authorization: Bearer ...`` or ``X-Health-Token``); unset: loopback clients only."""
OTEL_KIT_SLOW_QUERY_TOKEN = "OTEL_KIT_SLOW_QUERY_TOKEN"
"""Token for the slow-query endpoint (``Authorization: Bearer ...``); unset: loopback clients only."""
OTEL_KIT_CONFIG_DIR = "OTEL_KIT_CONFIG_DIR"
"""A configuration directory for ``otel-kit stack`` instead of the shipped one (e.g. from ``stack config --export``)."""

# --- alert delivery and retention of the local stack (read by `otel-kit stack up` and `otel-kit alerts`) ---
OTEL_KIT_ALERT_WEBHOOK_URL = "OTEL_KIT_ALERT_WEBHOOK_URL"
"""A generic webhook that receives every alert notification (Alertmanager's JSON)."""
OTEL_KIT_ALERT_EMAIL_TO = "OTEL_KIT_ALERT_EMAIL_TO"
"""Comma-separated addresses that receive alert emails (needs ``OTEL_KIT_SMTP_HOST``)."""
OTEL_KIT_SMTP_HOST = "OTEL_KIT_SMTP_HOST"
OTEL_KIT_SMTP_PORT = "OTEL_KIT_SMTP_PORT"
OTEL_KIT_SMTP_FROM = "OTEL_KIT_SMTP_FROM"
OTEL_KIT_SMTP_USER = "OTEL_KIT_SMTP_USER"
OTEL_KIT_SMTP_PASSWORD = "OTEL_KIT_SMTP_PASSWORD"
OTEL_KIT_SMTP_TLS = "OTEL_KIT_SMTP_TLS"
"""Require STARTTLS (or TLS on port 465) for alert emails: true (default) or false."""
OTEL_KIT_SLACK_WEBHOOK_URL = "OTEL_KIT_SLACK_WEBHOOK_URL"
OTEL_KIT_PAGERDUTY_ROUTING_KEY = "OTEL_KIT_PAGERDUTY_ROUTING_KEY"
"""PagerDuty Events API v2 routing key: critical alerts page."""
OTEL_KIT_PUSHOVER_USER_KEY = "OTEL_KIT_PUSHOVER_USER_KEY"
OTEL_KIT_PUSHOVER_TOKEN = "OTEL_KIT_PUSHOVER_TOKEN"
OTEL_KIT_ALERT_GROUP_WAIT = "OTEL_KIT_ALERT_GROUP_WAIT"
"""How long a new group of alerts waits for more before its first notification (default 30s)."""
OTEL_KIT_ALERT_GROUP_INTERVAL = "OTEL_KIT_ALERT_GROUP_INTERVAL"
"""At most one notification per group this often when it changes (default 5m)."""
OTEL_KIT_ALERT_REPEAT_INTERVAL = "OTEL_KIT_ALERT_REPEAT_INTERVAL"
"""The cooldown: an unchanged firing group is notified again after this long (default 4h)."""
OTEL_KIT_AI_DAILY_BUDGET_USD = "OTEL_KIT_AI_DAILY_BUDGET_USD"
"""Daily AI spend (USD, any 24 hours) past which AIDailyBudget fires: warning at 80 %, critical at 100 %."""
OTEL_KIT_RUNBOOK_URL = "OTEL_KIT_RUNBOOK_URL"
"""Where the alerts' runbook links point (a hosted copy of runbooks.md); default the stack's own file."""
OTEL_KIT_GRAFANA_URL = "OTEL_KIT_GRAFANA_URL"
"""The Grafana the alerts' dashboard links point at (default http://127.0.0.1:3000)."""
OTEL_KIT_JAEGER_RETENTION = "OTEL_KIT_JAEGER_RETENTION"
"""How long the stack's Jaeger keeps traces (default 7d)."""
OTEL_KIT_LOKI_RETENTION = "OTEL_KIT_LOKI_RETENTION"
"""How long the stack's Loki keeps logs (default 30d)."""
OTEL_KIT_PROMETHEUS_RETENTION = "OTEL_KIT_PROMETHEUS_RETENTION"
"""How long the stack's Prometheus keeps samples (default 15d)."""
