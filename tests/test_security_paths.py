"""Path traversal detector: dot-dot segments, sensitive absolute paths, stream wrappers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_kit.signals.security.decoding import decode
from otel_kit.signals.security.paths import detect


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("../../../../etc/shadow", "dot_dot"),
        ("..\\..\\..\\windows\\win.ini", "dot_dot"),
        ("%2e%2e%2f%2e%2e%2fapp/config.yml", "dot_dot"),
        ("%252e%252e%252f%252e%252e%252f", "dot_dot"),
        ("%c0%ae%c0%ae/%c0%ae%c0%ae/secret", "dot_dot"),
        ("..%u2215..%u2215opt", "dot_dot"),
        ("....//....//srv/data", "dot_dot"),
        ("..;/..;/admin", "dot_dot"),
        ("static/..0x2f..0x2fapp.db", "dot_dot"),
        ("/assets/../../../var/lib/app.db", "dot_dot"),
        ("/..", "dot_dot"),
        ("/etc/passwd", "sensitive_file"),
        ("/etc/shadow%00.png", "sensitive_file"),
        ("/proc/self/environ", "sensitive_file"),
        ("/var/log/nginx/error.log", "sensitive_file"),
        ("etc/passwd", "sensitive_file"),
        ("C:\\Windows\\System32\\config\\SAM", "sensitive_file"),
        ("c:/boot.ini", "sensitive_file"),
        ("/usr/local/etc/nginx/nginx.conf", "sensitive_file"),
        ("/usr/local/apache2/bin/apachectl", "absolute_path"),
        ("/opt/lampp/logs/access_log", "absolute_path"),
        ("/root/.bash_history", "sensitive_file"),
        ("/.env", "sensitive_file"),
        ("/sys/class/net", "absolute_path"),
        ("D:\\inetpub\\wwwroot\\web.config", "sensitive_file"),
        ("php://filter/convert.base64-encode/resource=index", "wrapper"),
        ("file:///srv/app/settings.py", "wrapper"),
        ("expect://uname", "wrapper"),
        ("zip://upload.zip#shell.php", "wrapper"),
        ("phar://avatar.jpg/x", "wrapper"),
        ("data://text/plain;base64,SGk=", "wrapper"),
        ("page=php://input", "wrapper"),
    ],
)
def test_traversal_detected(value: str, pattern: str) -> None:
    """Each form is detected after decoding."""
    found = detect(decode(value))
    assert found is not None, value
    assert found[0] == pattern, (value, found)


@pytest.mark.parametrize(
    "value",
    [
        "../README.md", "See [the docs](../docs/index.md)", "docs/guide/setup.md", "src/app/main.py", "/blog/tags/linux",
        "/static/css/app.css", "/sitemap.xml", "/.well-known/security.txt", "C:\\Users\\bob\\Documents", "Edit /etc/hosts to add it",
        "Wait... what?", "So.../ maybe", "https://example.com/a/b?c=d", "/usr/local/jetty/lib/http2-hpack-9.4.jar", "/api/v1/orders/9f8e",
        "version 1.2.3", "data: 5 rows", "Install it in /opt/myapp please", "file: report.pdf", "~/projects",
    ],
)
def test_ordinary_paths_are_not_attacks(value: str) -> None:
    """Relative links, URL paths, prose mentions and user folders are not traversal."""
    assert detect(decode(value)) is None, (value, detect(decode(value)))


def test_request_path_only_counts_traversal_and_system_targets() -> None:
    """For the URL path itself (not a value) a bare /etc/... is a probe only when it names a system file."""
    assert detect("/files/..%2f..%2fetc/passwd", whole_value=False) is not None
    assert detect("/download/C:/Windows/System32/drivers/etc/hosts", whole_value=False) is not None
    assert detect("/opt/myapp/config.ini", whole_value=False) is None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["..", "/", "\\", "%2e", "%2f", "%c0%ae", "0x2f", "etc", "passwd", "C:", ":", "//", "php", "file", "%00", "\x00", ";", "x", " ", "?", "#", "\ue000"]), max_size=60))
def test_never_raises_on_path_soup(parts: list[str]) -> None:
    """Path soup never raises, whole value or not."""
    text = "".join(parts)
    detect(decode(text))
    detect(text, whole_value=False)
