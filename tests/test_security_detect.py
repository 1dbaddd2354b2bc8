"""Security findings: detectors per field, no request content in findings, bounded patterns, hand-written cases."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_kit.signals import security
from otel_kit.signals.security import decoding, detect, fields, html, paths, shell, sql, taint
from otel_kit.signals.security.detect import ATTACK_TYPES, Finding, inspect_field, inspect_fields, inspect_headers, inspect_text
from otel_kit.signals.security.fields import HEADER, PATH, SEGMENT, VALUE, Field, body_fields, request_fields

DATA = Path(__file__).parent / "data"


def _rows(name: str) -> list[list[str]]:
    return [line.split("\t") for line in (DATA / name).read_text().splitlines() if line and not line.startswith("#")]


def _placed(placement: str, text: str) -> list[list[Finding]]:
    """Findings per request the text can sit in (a typed value is tried as a query value and a JSON value)."""
    if placement == "query":
        return [inspect_fields(request_fields("/", text))]
    if placement == "path":
        return [inspect_fields(request_fields(text, ""))]
    if placement == "user-agent":
        return [inspect_headers([(b"user-agent", text.encode())])]
    if placement == "body":
        return [inspect_fields(body_fields(text.encode(), "application/json"))]
    return [inspect_fields(request_fields("/", "q=" + quote_plus(text))), inspect_fields(body_fields(json.dumps({"comment": text}).encode(), "application/json"))]


def test_hand_written_cases() -> None:
    """The project's own cases: every attack found with its type, no benign text flagged, in every placement."""
    attacks, benign = _rows("attacks.tsv"), _rows("benign.tsv")
    assert len(attacks) >= 400 and len(benign) >= 400
    missed = [(kind, text) for kind, placement, text in attacks for found in _placed(placement, json.loads(text)) if not any(f.type == kind for f in found)]
    flagged = [(text, found) for placement, text in benign for found in _placed(placement, json.loads(text)) if found]
    assert missed == []
    assert flagged == []


def test_finding_attributes_carry_no_request_content() -> None:
    """A finding names rule, type, severity and location, plus a shape of token classes and a keyed hash."""
    value = "zz' OR 'qq'='qq"
    (finding,) = inspect_fields([Field("query.q", value, VALUE)], key=b"k")
    attributes = finding.as_attributes()
    assert attributes["security.attack.type"] == "sql_injection"
    assert attributes["security.attack.location"] == "query.q"
    assert attributes["security.attack.pattern"] == "tautology"
    assert attributes["security.severity"] == "high"
    assert "security.attack.excerpt" not in attributes
    assert re.fullmatch(r"[0-9a-f]{16}", attributes["security.attack.value_hmac"])
    for text in attributes.values():
        assert "zz" not in text and "qq" not in text


def test_sensitive_fields_report_location_only() -> None:
    """In a field named like a secret the finding has no shape and no hash, whatever matched."""
    (finding,) = inspect_fields([Field("body.password", "' or 1=1--", VALUE, True)], key=b"k")
    assert finding.location == "body.password"
    assert set(finding.as_attributes()) == {"security.attack.type", "security.severity", "security.attack.pattern", "security.attack.location"}


def test_hash_is_keyed() -> None:
    """The same value hashes alike under one key and differently under another (no dictionary lookups)."""
    field = Field("query.q", "<script>x()</script>", VALUE)
    first, again, other = (inspect_field(field, key=k)[0].digest for k in (b"a", b"a", b"b"))
    assert first == again and first != other


def test_kind_selects_detectors() -> None:
    """The URL path is only a path; a free-text header is never a whole-value path."""
    assert inspect_field(Field("path", "/etc/passwd", PATH)) != []
    assert inspect_field(Field("path", "/opt/app/x.conf", PATH)) == []
    assert inspect_field(Field("path", "1' or '1'='1", SEGMENT))[0].type == "sql_injection"
    assert inspect_field(Field("header.user-agent", "/opt/app/x.conf", HEADER)) == []
    assert inspect_field(Field("query.f", "/opt/app/x.conf", VALUE))[0].type == "path_traversal"


def test_header_verdicts_are_cached_but_hashed_per_monitor() -> None:
    """Repeated headers reuse the verdict; the hash still follows the key."""
    headers = [(b"user-agent", b"() { :;}; /bin/ping -c 1 10.0.0.1"), (b"referer", b"https://x.example/?q=%3Cscript%3E")]
    first = inspect_headers(headers, key=b"a")
    second = inspect_headers(headers, key=b"b")
    assert [(f.type, f.location) for f in first] == [("command_injection", "header.user-agent"), ("xss", "header.referer")]
    assert [(f.type, f.location) for f in second] == [(f.type, f.location) for f in first]
    assert first[0].digest != second[0].digest


def test_inspect_text_public_api() -> None:
    """inspect_text inspects one typed value, filters by type and never raises."""
    assert {f.type for f in inspect_text("; cat /etc/passwd", "query.q")} == {"command_injection", "path_traversal"}
    assert inspect_text("<script>x()</script>", "q", types=["sql_injection"]) == []
    assert inspect_text(None, "x") == [] and inspect_text(b"bytes", "x") == []  # type: ignore[arg-type]
    assert inspect_text("' or 1=1--", "password")[0].shape == ""


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=1500), st.sampled_from([VALUE, HEADER, PATH, SEGMENT, "name"]))
def test_never_raises(value: str, kind: str) -> None:
    """No field of any kind makes inspection raise."""
    assert isinstance(inspect_field(Field("x", value, kind)), list)


@pytest.mark.parametrize("unit", ["<", "'", '"', "<a ", "<a x=", "<svg on", "' or ", "'||'", "../", "..%2f", "%25", "%c0%ae", "&#", "\\u003c", "; ", "$(", "`", "| ", "union ", "/*", "-- ", "(", "1=1 or ", "a", "\\", "{${", "X"])
def test_adversarial_8kb_fields_complete(unit: str) -> None:
    """8 KB adversarial fields are inspected in every kind (timing: benchmarks/bench_security.py)."""
    value = (unit * (8192 // len(unit) + 1))[:8192]
    for kind in (VALUE, HEADER, PATH, SEGMENT):
        assert isinstance(inspect_field(Field("x", value, kind)), list)


# --- every pattern is linear --------------------------------------------------------------------


def _repeats(pattern: re.Pattern[str]) -> list[str]:
    """Problems: unbounded repeats, and variable repeats nested in repeats of more than one."""
    from re import _constants, _parser  # type: ignore[attr-defined]

    problems: list[str] = []

    def walk(items: Any, inside_variable: bool) -> None:
        for op, arg in items:
            if op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT, _constants.POSSESSIVE_REPEAT):
                low, high, sub = arg
                if high == _constants.MAXREPEAT:
                    problems.append("unbounded")
                if low != high and inside_variable:
                    problems.append("nested")
                # An optional group (at most once) cannot multiply the work of what it contains.
                walk(sub, inside_variable or (low != high and high > 1))
            elif op == _constants.SUBPATTERN:
                walk(arg[-1], inside_variable)
            elif op == _constants.BRANCH:
                for branch in arg[1]:
                    walk(branch, inside_variable)
            elif op in (_constants.ASSERT, _constants.ASSERT_NOT):
                walk(arg[1], inside_variable)

    walk(_parser.parse(pattern.pattern, pattern.flags), False)
    return problems


def _patterns(*modules: ModuleType) -> dict[str, re.Pattern[str]]:
    return {f"{m.__name__}.{name}": value for m in modules for name, value in vars(m).items() if isinstance(value, re.Pattern)}


def test_every_pattern_uses_bounded_unnested_repetition() -> None:
    """Every regex in the security package (and the scrubber) has bounded repeats, none nested in another."""
    from otel_kit.redaction import scrubbing

    # security.monitor is the module-level accessor function; the module itself is in sys.modules.
    patterns = _patterns(decoding, fields, sql, html, paths, shell, detect, importlib.import_module("otel_kit.signals.security.monitor"), taint)
    assert len(patterns) >= 40
    offenders = {name: _repeats(p) for name, p in patterns.items() if _repeats(p)}
    assert offenders == {}
    scrubber = _patterns(scrubbing)
    assert scrubber and [name for name, p in scrubber.items() if "unbounded" in _repeats(p)] == []


def test_public_api_is_reexported() -> None:
    """The package keeps the names the rest of otel-kit and users import."""
    for name in ("SecurityMonitor", "SecurityMiddleware", "SecurityPolicy", "inspect_text", "sign", "verify_audit", "BlockList", "SlidingCounter", "Finding", "auth_attempt", "authorization_failure", "event", "audit", "monitor", "ATTACK_TYPES", "SEVERITIES"):
        assert hasattr(security, name), name
    assert set(ATTACK_TYPES) == {"sql_injection", "xss", "path_traversal", "command_injection"}
