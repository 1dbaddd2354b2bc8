"""Settings resolution: argument > OTEL_KIT_* > OTEL_* > default, errors and fallbacks."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_kit.config import environment as env
from otel_kit.config.settings import ConfigError, Extensions, Limits, check_extensions, resolve, setting_names

# (setting, argument, environment, expected value, expected source)
RESOLUTION = [
    ("service_name", None, {}, "unknown_service:python", "default"),
    ("service_name", None, {"OTEL_SERVICE_NAME": "std"}, "std", "OTEL_SERVICE_NAME"),
    ("service_name", None, {"OTEL_SERVICE_NAME": "std", "OTEL_KIT_SERVICE_NAME": "kit"}, "kit", "OTEL_KIT_SERVICE_NAME"),
    ("service_name", "arg", {"OTEL_SERVICE_NAME": "std", "OTEL_KIT_SERVICE_NAME": "kit"}, "arg", "argument"),
    ("service_name", None, {"OTEL_RESOURCE_ATTRIBUTES": "a=b,service.name=from-attrs"}, "from-attrs", "default"),
    ("endpoint", None, {}, None, "default"),
    ("endpoint", None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, "http://collector:4317", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ("endpoint", None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1", "OTEL_KIT_ENDPOINT": "b:2"}, "http://b:2", "OTEL_KIT_ENDPOINT"),
    ("endpoint", "https://x:443/", {"OTEL_KIT_ENDPOINT": "b:2"}, "https://x:443", "argument"),
    ("protocol", None, {}, "grpc", "default"),
    ("protocol", None, {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "http/protobuf", "OTEL_EXPORTER_OTLP_PROTOCOL"),
    ("protocol", "http", {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http/protobuf", "argument"),
    ("headers", None, {"OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc%20d,x=1"}, {"api-key": "abc d", "x": "1"}, "OTEL_EXPORTER_OTLP_HEADERS"),
    ("headers", None, {"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer x"}, {"authorization": "Bearer x"}, "OTEL_EXPORTER_OTLP_HEADERS"),
    ("headers", None, {"OTEL_KIT_HEADERS": "X-Tenant=t1"}, {"x-tenant": "t1"}, "OTEL_KIT_HEADERS"),
    ("headers", {"X-Api-Key": "k"}, {}, {"x-api-key": "k"}, "argument"),
    ("endpoint", "http://c:4318/otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "http://c:4318/otlp", "argument"),
    ("endpoint", "http://[::1]:4317", {}, "http://[::1]:4317", "argument"),
    ("export_timeout", 0.001, {}, 0.001, "argument"),
    ("sample_ratio", None, {}, 1.0, "default"),
    ("sample_ratio", None, {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}, 0.25, "OTEL_TRACES_SAMPLER"),
    ("sample_ratio", None, {"OTEL_TRACES_SAMPLER": "always_off"}, 0.0, "OTEL_TRACES_SAMPLER"),
    ("sample_ratio", None, {"OTEL_TRACES_SAMPLER": "always_off", "OTEL_KIT_SAMPLE_RATIO": "0.5"}, 0.5, "OTEL_KIT_SAMPLE_RATIO"),
    ("sample_ratio", 0.1, {"OTEL_KIT_SAMPLE_RATIO": "0.5"}, 0.1, "argument"),
    ("metric_interval", None, {}, 60.0, "default"),
    ("metric_interval", None, {"OTEL_METRIC_EXPORT_INTERVAL": "5000"}, 5.0, "OTEL_METRIC_EXPORT_INTERVAL"),
    ("metric_interval", None, {"OTEL_METRIC_EXPORT_INTERVAL": "5000", "OTEL_KIT_METRIC_INTERVAL": "2"}, 2.0, "OTEL_KIT_METRIC_INTERVAL"),
    ("export_timeout", None, {"OTEL_EXPORTER_OTLP_TIMEOUT": "7"}, 7.0, "OTEL_EXPORTER_OTLP_TIMEOUT"),
    ("export_timeout", None, {"OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}, 2.5, "OTEL_EXPORTER_OTLP_TIMEOUT"),
    ("log_level", None, {"OTEL_LOG_LEVEL": "warn"}, "warning", "OTEL_LOG_LEVEL"),
    ("log_level", None, {"OTEL_LOG_LEVEL": "warn", "OTEL_KIT_LOG_LEVEL": "debug"}, "debug", "OTEL_KIT_LOG_LEVEL"),
    ("instrument", None, {"OTEL_KIT_INSTRUMENT": "fastapi, logging"}, frozenset({"fastapi", "logging"}), "OTEL_KIT_INSTRUMENT"),
    ("instrument", {"fastapi": True, "sqlalchemy": False}, {}, frozenset({"fastapi"}), "argument"),
    ("traces", None, {"OTEL_KIT_TRACES": "false"}, False, "OTEL_KIT_TRACES"),
    ("bsp_max_queue_size", None, {"OTEL_BSP_MAX_QUEUE_SIZE": "100"}, 100, "OTEL_BSP_MAX_QUEUE_SIZE"),
    ("blrp_schedule_delay", None, {"OTEL_BLRP_SCHEDULE_DELAY": "250"}, 0.25, "OTEL_BLRP_SCHEDULE_DELAY"),
    ("shutdown_timeout", None, {}, 5.0, "default"),
]


@pytest.mark.parametrize(("setting", "argument", "environment", "expected", "source"), RESOLUTION)
def test_resolution_order(monkeypatch: pytest.MonkeyPatch, setting: str, argument: object, environment: dict[str, str], expected: object, source: str) -> None:
    """Each setting resolves argument > OTEL_KIT_* > OTEL_* > default."""
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    settings = resolve({setting: argument} if argument is not None else {})
    assert getattr(settings, setting) == expected
    assert settings.sources[setting] == source


INVALID = [
    ("service_name", "", "non-empty string"),
    ("sample_ratio", 1.5, "0.0 to 1.0"),
    ("sample_ratio", "half", "0.0 to 1.0"),
    ("protocol", "thrift", "'grpc', 'http/protobuf'"),
    ("endpoint", "ftp://x", "http:// or https://"),
    ("endpoint", "http://host:notaport", "http:// or https://"),
    ("endpoint", "not a url", "http:// or https://"),
    ("endpoint", "http://[::1", "http:// or https://"),
    ("endpoint", "http://[nonsense]:4317", "valid host"),
    ("endpoint", "http://host:0", "port 1-65535"),
    ("endpoint", "http://host:70000", "port 1-65535"),
    ("endpoint", "http://host:4318?x=1", "query"),
    ("endpoint", "http://ho$t:4317", "valid host"),
    ("endpoint", "http://collector:4317/v1/traces", "no path either"),
    ("export_timeout", 0.0005, "0.001"),
    ("export_timeout", 0, "0.001"),
    ("resource_attributes", {"service.name": ""}, "service.name, if given, a non-empty string"),
    ("resource_attributes", {"service.name": "   "}, "service.name, if given, a non-empty string"),
    ("resource_attributes", {"service.name": 7}, "service.name, if given, a non-empty string"),
    ("log_file", "/nonexistent/dir/app.log", "existing, writable directory"),
    ("log_file", "/", "existing, writable directory"),
    ("instrument", ["fastapi", "no_such_integration"], "names from"),
    ("log_level", "loud", "one of debug"),
    ("log_format", "xml", "'console', 'json', 'none'"),
    ("metric_interval", 0, "0.05 to 86400"),
    ("shutdown_timeout", -1, "> 0"),
    ("traces", "maybe", "True or False"),
    ("resource_attributes", {"k": [1, 2]}, "str/bool/int/float"),
    ("excluded_urls", ["health"], "starting with '/'"),
    ("n_plus_one_threshold", 1, "2 to 100000"),
    ("fastapi_telemetry", "both", "'contrib', 'native'"),
]


@pytest.mark.parametrize(("setting", "value", "accepted"), INVALID)
def test_invalid_argument_raises_config_error(setting: str, value: object, accepted: str) -> None:
    """An invalid argument raises ConfigError naming the setting, the value and what is accepted."""
    with pytest.raises(ConfigError) as caught:
        resolve({setting: value})
    message = str(caught.value)
    assert setting in message and repr(value) in message and accepted in message
    assert isinstance(caught.value, ValueError)
    assert caught.value.setting == setting


def test_unknown_setting_is_rejected() -> None:
    """A misspelt setting is a ConfigError listing the known ones."""
    with pytest.raises(ConfigError, match="sample_rate"):
        resolve({"sample_rate": 0.5})


@pytest.mark.parametrize(
    ("variable", "raw", "setting", "fallback"),
    [
        ("OTEL_KIT_SAMPLE_RATIO", "2", "sample_ratio", 1.0),
        ("OTEL_TRACES_SAMPLER", "sometimes", "sample_ratio", 1.0),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon", "protocol", "grpc"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "-5", "metric_interval", 60.0),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "lots", "bsp_max_queue_size", 2048),
        ("OTEL_KIT_TRACES", "perhaps", "traces", True),
    ],
)
def test_invalid_environment_warns_and_falls_back(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, variable: str, raw: str, setting: str, fallback: object) -> None:
    """An invalid environment variable logs one warning and falls back to the default."""
    monkeypatch.setenv(variable, raw)
    with caplog.at_level(logging.WARNING, logger="otel_kit.config"):
        settings = resolve({})
        resolve({})
    assert getattr(settings, setting) == fallback
    warnings = [r for r in caplog.records if variable in r.getMessage()]
    assert len(warnings) == 1 and raw in warnings[0].getMessage()


def test_invalid_kit_variable_falls_back_to_standard(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad OTEL_KIT_* value falls through to the standard OTEL_* variable, not straight to the default."""
    monkeypatch.setenv("OTEL_KIT_PROTOCOL", "bogus")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    assert resolve({}).protocol == "http/protobuf"


def test_disabled_instrumentations_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_PYTHON_DISABLED_INSTRUMENTATIONS removes integrations from the default set."""
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "requests,httpx")
    chosen = resolve({}).instrument
    assert {"fastapi", "sqlalchemy", "logging"} <= chosen and not {"requests", "httpx"} & chosen


def test_per_signal_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-signal OTLP variables win as given; the base endpoint gets /v1/<signal> over http/protobuf."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:9999")
    settings = resolve({})
    assert settings.signal_endpoint("TRACES") == "http://base:4318/v1/traces"
    assert settings.signal_endpoint("LOGS") == "http://logs:9999"  # per-signal URLs are used as given


def test_default_endpoint_is_local_grpc() -> None:
    """With nothing configured, OTLP goes over gRPC to 127.0.0.1:4317."""
    settings = resolve({})
    assert settings.signal_protocol("TRACES") == "grpc"
    assert settings.signal_endpoint("TRACES") == "http://127.0.0.1:4317"


def test_signal_exporter_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_<SIGNAL>_EXPORTER=none turns off that signal's exporter."""
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
    settings = resolve({})
    assert settings.signal_exporter("LOGS") == "none"
    assert settings.signal_exporter("TRACES") == "otlp"


def test_every_variable_is_documented_in_one_module() -> None:
    """Every OTEL_KIT_* name used by the settings is defined in otel_kit.config.environment."""
    from otel_kit.config.settings import SPECS

    names = {variable for spec in SPECS.values() for variable, _ in spec.envs}
    defined = {value for key, value in vars(env).items() if key.isupper() and isinstance(value, str)}
    assert names <= defined
    assert "service_name" in setting_names()


# --- secrets never shown, headers as gRPC accepts them ---------------------------------------------

SECRET_TEXT = "s3cr3t-T0ken"


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees its own 'warn once' memory."""
    from otel_kit.config import settings as settings_module

    monkeypatch.setattr(settings_module, "_warned", set())


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Api-Key": f"{SECRET_TEXT}\nX-Evil: 1"},
        {"x-api-key": f"{SECRET_TEXT}\rX-Evil: 1"},
        {"x-api-key": f"{SECRET_TEXT}\x00"},
        {"x-api-key": f"{SECRET_TEXT}\u00e9"},
        {"x api key": SECRET_TEXT},
        {"x-api-key": SECRET_TEXT, "X-Api-Key": SECRET_TEXT},
        {"x-api-key": SECRET_TEXT.encode()},
        f"x-api-key={SECRET_TEXT}%0AX-Evil:%201",
        f"x-api-key={SECRET_TEXT},{SECRET_TEXT}",
    ],
)
def test_invalid_header_argument_never_shows_its_value(headers: object) -> None:
    """A header with a newline, CR, NUL, non-ASCII or a bad name is a ConfigError showing names only."""
    with pytest.raises(ConfigError) as caught:
        resolve({"headers": headers})
    error = caught.value
    assert error.setting == "headers" and "newline, CR, NUL" in str(error)
    for shown in (str(error), repr(error), repr(error.value), repr(error.args)):
        assert SECRET_TEXT not in shown
    assert "***" in str(error)


def test_header_names_lowercased_for_grpc_metadata() -> None:
    """Capitalised header names (which gRPC refuses with 'Invalid metadata') are sent lowercased; a trailing newline is trimmed."""
    settings = resolve({"headers": {"X-Api-Key": "k", "Authorization": "Bearer x\n"}})
    assert settings.headers == {"x-api-key": "k", "authorization": "Bearer x"}
    assert settings.signal_headers("TRACES") == {"x-api-key": "k", "authorization": "Bearer x"}


def test_per_signal_header_variable_is_lowercased(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS applies to its signal only, lowercased too."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer x")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "X-Tenant=t1")
    settings = resolve({})
    assert settings.signal_headers("LOGS") == {"authorization": "Bearer x", "x-tenant": "t1"}
    assert settings.signal_headers("TRACES") == {"authorization": "Bearer x"}


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_KIT_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"])
@pytest.mark.usefixtures("fresh_warnings")
def test_invalid_header_variable_warns_once_without_value(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, variable: str) -> None:
    """A header variable with a newline warns once (names only) and falls back."""
    monkeypatch.setenv(variable, f"Authorization=Bearer {SECRET_TEXT}%0D%0AX-Evil: 1")
    with caplog.at_level(logging.WARNING, logger="otel_kit.config"):
        settings = resolve({})
        resolve({})
        headers = settings.signal_headers("TRACES")
        settings.signal_headers("TRACES")
    assert settings.headers == {} and headers == {}
    warnings = [r.getMessage() for r in caplog.records if variable in r.getMessage()]
    assert len(warnings) == 1 and "authorization=***" in warnings[0].lower()
    assert SECRET_TEXT not in caplog.text


def test_settings_repr_masks_headers_and_audit_key() -> None:
    """repr(Settings) shows header names and hides header values and the audit key."""
    settings = resolve({"headers": {"X-Api-Key": SECRET_TEXT}, "audit_key": SECRET_TEXT + "-audit"})
    text = repr(settings)
    assert SECRET_TEXT not in text and "x-api-key" in text and "audit_key='***'" in text


@pytest.mark.parametrize("value", [SECRET_TEXT.encode(), 12345678, "   "])
def test_invalid_audit_key_is_not_echoed(value: object) -> None:
    """An invalid audit_key is a ConfigError that does not repeat the key."""
    with pytest.raises(ConfigError) as caught:
        resolve({"audit_key": value})
    assert caught.value.setting == "audit_key" and caught.value.value == "***"
    assert SECRET_TEXT not in str(caught.value) and "12345678" not in str(caught.value)


@pytest.mark.usefixtures("fresh_warnings")
def test_bare_token_in_header_variable_is_not_echoed(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A token pasted into OTEL_KIT_HEADERS without a name warns as '***'; a blank OTEL_KIT_AUDIT_KEY counts as unset."""
    monkeypatch.setenv("OTEL_KIT_AUDIT_KEY", "  \t ")
    monkeypatch.setenv("OTEL_KIT_HEADERS", f"x=a,{SECRET_TEXT}")
    with caplog.at_level(logging.WARNING, logger="otel_kit.config"):
        settings = resolve({})
    assert settings.headers == {} and settings.audit_key is None
    assert SECRET_TEXT not in caplog.text and "OTEL_KIT_HEADERS='x=***,***'" in caplog.text


# --- endpoint ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [f"http://user:{SECRET_TEXT}@collector:4317", f"user:{SECRET_TEXT}@collector:4317", f"https://{SECRET_TEXT}@collector"])
def test_endpoint_with_credentials_is_rejected_masked(url: str) -> None:
    """user:password@ in the endpoint argument is a ConfigError that masks the credentials."""
    with pytest.raises(ConfigError) as caught:
        resolve({"endpoint": url})
    message = str(caught.value)
    assert caught.value.setting == "endpoint" and "user:password@" in message and "***@collector" in message
    assert SECRET_TEXT not in message and SECRET_TEXT not in repr(caught.value.value)


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_KIT_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
@pytest.mark.usefixtures("fresh_warnings")
def test_endpoint_variable_with_credentials_warns_masked(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, variable: str) -> None:
    """An endpoint variable with user:password@ warns once, masked, and falls back to the default."""
    monkeypatch.setenv(variable, f"http://user:{SECRET_TEXT}@collector:4317")
    with caplog.at_level(logging.WARNING, logger="otel_kit.config"):
        settings = resolve({})
        endpoint = settings.signal_endpoint("TRACES")
        settings.signal_endpoint("TRACES")
        resolve({})
    assert endpoint == "http://127.0.0.1:4317"
    assert len([r for r in caplog.records if variable in r.getMessage()]) == 1
    assert SECRET_TEXT not in caplog.text and "***@collector:4317" in caplog.text


@pytest.mark.usefixtures("fresh_warnings")
def test_grpc_endpoint_path_in_variables(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A path on a gRPC endpoint variable warns and falls back; over HTTP the same path is kept."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/otlp")
    with caplog.at_level(logging.WARNING, logger="otel_kit.config"):
        assert resolve({}).signal_endpoint("TRACES") == "http://127.0.0.1:4317"
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        settings = resolve({})
        assert settings.signal_endpoint("TRACES") == "http://collector:4318/otlp/v1/traces"
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc")
        assert settings.signal_endpoint("METRICS") == "http://127.0.0.1:4317"
    assert "no path" in caplog.text and "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=grpc" in caplog.text


def test_grpc_endpoint_path_argument_ok_over_http() -> None:
    """With protocol='http/protobuf' an endpoint path is a prefix, not an error."""
    settings = resolve({"endpoint": "https://gw.example.com/otlp", "protocol": "http/protobuf"})
    assert settings.signal_endpoint("LOGS") == "https://gw.example.com/otlp/v1/logs"


@pytest.mark.usefixtures("fresh_warnings")
def test_export_timeout_variable_below_one_millisecond_falls_back(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """OTEL_EXPORTER_OTLP_TIMEOUT below 1 ms warns and keeps the default."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.0001")
    with caplog.at_level(logging.WARNING, logger="otel_kit.config"):
        assert resolve({}).export_timeout == 10.0
    assert "OTEL_EXPORTER_OTLP_TIMEOUT" in caplog.text


# --- log_file ------------------------------------------------------------------------------------


def test_log_file_in_writable_directory(tmp_path: Path) -> None:
    """A log file in an existing directory is accepted as given."""
    path = str(tmp_path / "app.log")
    assert resolve({"log_file": path}).log_file == path


@pytest.mark.usefixtures("fresh_warnings")
def test_log_file_variable_unusable_warns_and_disables_file(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """OTEL_KIT_LOG_FILE in a missing directory (or naming a directory) warns once and falls back to no file."""
    for bad in ("/nonexistent/dir/app.log", str(tmp_path)):
        monkeypatch.setenv("OTEL_KIT_LOG_FILE", bad)
        with caplog.at_level(logging.WARNING, logger="otel_kit.config"):
            assert resolve({}).log_file is None
            resolve({})
        assert len([r for r in caplog.records if bad in r.getMessage()]) == 1


# --- fastapi_operation_spans and the processor/reader lists -------------------------------------


def _extensions(**given: object) -> Extensions:
    arguments: dict[str, object] = {
        "fastapi_operation_spans": None,
        "additional_span_processors": (),
        "additional_metric_readers": (),
        "additional_log_processors": (),
    }
    arguments.update(given)
    return check_extensions(**arguments)


@pytest.mark.parametrize("value", ["no", "false", 0, 1])
def test_fastapi_operation_spans_must_be_bool(value: object) -> None:
    """fastapi_operation_spans='no' is a ConfigError, not a truthy string that turns spans on."""
    with pytest.raises(ConfigError, match="True or False") as caught:
        _extensions(fastapi_operation_spans=value)
    assert caught.value.setting == "fastapi_operation_spans"
    assert _extensions(fastapi_operation_spans=True).fastapi_operation_spans is True
    assert _extensions().fastapi_operation_spans is False


@pytest.mark.parametrize(
    ("setting", "items", "bad_type"),
    [
        ("additional_span_processors", [None], "NoneType"),
        ("additional_span_processors", [SimpleSpanProcessor(InMemorySpanExporter()), "processor"], "str"),
        ("additional_metric_readers", [SimpleSpanProcessor(InMemorySpanExporter())], "SimpleSpanProcessor"),
        ("additional_log_processors", [SimpleSpanProcessor(InMemorySpanExporter())], "SimpleSpanProcessor"),
        ("additional_log_processors", [object()], "object"),
    ],
)
def test_processor_lists_reject_wrong_items(setting: str, items: list[object], bad_type: str) -> None:
    """An item of the wrong kind is a ConfigError naming the setting and the item's type."""
    with pytest.raises(ConfigError) as caught:
        _extensions(**{setting: items})
    assert caught.value.setting == setting and bad_type in str(caught.value) and "instances" in str(caught.value)


def test_processor_lists_reject_a_bare_processor() -> None:
    """A single processor instead of a list is rejected with what to pass instead."""
    with pytest.raises(ConfigError, match=r"a list of .*SpanProcessor"):
        _extensions(additional_span_processors=SimpleSpanProcessor(InMemorySpanExporter()))


def test_processor_lists_accept_right_kinds() -> None:
    """Right kinds pass through as tuples (a generator is read once)."""
    span_processor = SimpleSpanProcessor(InMemorySpanExporter())
    reader = InMemoryMetricReader()
    log_processor = SimpleLogRecordProcessor(InMemoryLogRecordExporter())
    checked = _extensions(
        additional_span_processors=(p for p in [span_processor]),
        additional_metric_readers=[reader],
        additional_log_processors=[log_processor],
    )
    assert checked.span_processors == (span_processor,)
    assert checked.metric_readers == (reader,) and checked.log_processors == (log_processor,)


# --- SDK limit variables ----------------------------------------------------------------------------


def test_limits_default_bound_attribute_values() -> None:
    """Without variables, values are bounded at 16384 characters and counts at the SDK's 128."""
    limits = resolve({}).limits
    assert limits == Limits()
    assert limits.span_attribute_value_length == limits.attribute_value_length == limits.log_record_attribute_value_length == 16384
    assert limits.span_attribute_count == limits.span_event_count == 128


def test_limits_specific_variables_win_over_global(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_SPAN_*/OTEL_LOGRECORD_* win over OTEL_ATTRIBUTE_*, which win over the defaults."""
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100")
    monkeypatch.setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "10")
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "200")
    monkeypatch.setenv("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "5")
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "0")
    limits = resolve({}).limits
    assert (limits.attribute_value_length, limits.span_attribute_value_length, limits.log_record_attribute_value_length) == (100, 200, 100)
    assert (limits.span_attribute_count, limits.event_attribute_count, limits.log_record_attribute_count) == (10, 10, 5)
    assert limits.span_event_count == 0 and limits.span_link_count == 128


@pytest.mark.parametrize("variable", env.LIMIT_VARIABLES)
@pytest.mark.parametrize("raw", ["-1", "abc", "1.5"])
@pytest.mark.usefixtures("fresh_warnings")
def test_invalid_limit_variable_warns_once_and_falls_back(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, variable: str, raw: str) -> None:
    """Each invalid SDK limit variable warns once and is treated as unset; the SDK objects build."""
    from otel_kit.providers.logs import build_log_record_limits
    from otel_kit.providers.traces import build_span_limits

    monkeypatch.setenv(variable, raw)
    with caplog.at_level(logging.WARNING, logger="otel_kit.config"):
        limits = resolve({}).limits
        resolve({})
    assert limits == Limits()
    assert len([r for r in caplog.records if variable in r.getMessage()]) == 1
    span_limits, log_limits = build_span_limits(limits), build_log_record_limits(limits)  # must not read the variable
    assert span_limits.max_span_attribute_length == log_limits.max_log_record_attribute_length == 16384


def test_invalid_span_count_variable_does_not_break_import() -> None:
    """`import otel_kit` works with OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=-1 (the SDK parses it at import) and leaves it set."""
    environment = {**os.environ, "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "-1"}
    code = "import os, otel_kit; print(os.environ['OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT'])"
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "-1"
    assert done.stderr.count("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT") == 1 and "Traceback" not in done.stderr
