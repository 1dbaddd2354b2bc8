"""Settings resolution: argument > OTEL_KIT_* > OTEL_* > default, errors and fallbacks."""

from __future__ import annotations

import logging

import pytest

from otel_kit.config import environment as env
from otel_kit.config.settings import ConfigError, resolve, setting_names

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
    ("headers", {"a": 1}, "dict of str to str"),
    ("headers", "novalue", "key=value"),
    ("instrument", ["fastapi", "django"], "names from"),
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
    assert resolve({}).instrument == frozenset({"fastapi", "sqlalchemy", "logging"})


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
