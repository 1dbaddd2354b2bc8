"""Path traversal and file inclusion.

Three forms: ``..`` segments in any encoding (``../``, ``..\\``, ``%2e%2e%2f``, ``%c0%ae``,
``..;/``, ``....//``, ``0x2e0x2e0x2f``), a whole value that is an absolute path into system,
server or log locations (``/etc/passwd``, ``/proc/self/environ``, ``/var/log/...``,
``C:\\windows\\win.ini``, ``boot.ini``), and stream wrappers that make an include read or run
something (``php://``, ``file://``, ``expect://``, ``zip://``, ``phar://``, ``data:``). A path
mentioned inside prose ("edit /etc/hosts") is not a value that is a path, a relative link
(``../README.md``) is one ``..`` without a system target, and ``/sitemap.xml``,
``/.well-known/security.txt`` or ``C:\\Users\\bob\\Documents`` are ordinary paths.
"""

from __future__ import annotations

import re

_HEX_SEPARATORS = re.compile(r"0x(?:2e|2f|5c)|(?<=\.\.)2f|(?<=\.)2e|%(?:2e|2f|5c)", re.IGNORECASE)
_HEX_MAP = {"0x2e": ".", "0x2f": "/", "0x5c": "\\", "2f": "/", "2e": ".", "%2e": ".", "%2f": "/", "%5c": "\\"}
# Private-use code points are what exotic %u encodings of "/" and "\" decode to.
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
_DOT_RUN = re.compile(r"\.{3,8192}")
_DOT_SEGMENT = re.compile(r"(?:^|(?<=[/=:;\s\"'(,|%]))\.{2,64}(?=[/;?\x00%]|$)|(?<=/)\.{2,64}(?=\s)")
_SENSITIVE_TARGET = re.compile(
    r"(?:^|/)(?:etc/(?:passwd|shadow|group|hosts|issue|motd|sudoers|crontab|fstab|hostname|resolv\.conf|my\.cnf|httpd/|apache2?/|nginx/|php|mysql/|ssh/)|"
    r"proc/(?:self|version|cmdline|cpuinfo|meminfo|mounts|net/|[0-9]{1,7}/)|windows/(?:win\.ini|system\.ini|system32|repair|panther|debug|iis)|"
    r"winnt/|boot\.ini|win\.ini|system32/|web-inf/|wp-config|\.htpasswd|\.htaccess|\.ssh/|\.bash_history|\.env$|\.git/|"
    r"id_rsa|authorized_keys|web\.config|var/log/)",
    re.IGNORECASE,
)
# Top-level directories whose files a web request has no business naming.
_SYSTEM_ROOTS = frozenset({"etc", "proc", "sys", "dev", "root", "boot", "private", "windows", "winnt"})
# Top-level directories where servers keep software, configuration and logs.
_SERVER_ROOTS = frozenset(
    {
        "var", "usr", "opt", "bin", "sbin", "lib", "lib64", "srv", "library", "system", "volumes", "applications", "mnt",
        "run", "selinux", "apache", "apache2", "httpd", "nginx", "xampp", "lampp", "wamp", "logs", "log", "web", "www",
        "wwwroot", "htdocs", "inetpub", "program files", "program files (x86)", "programdata", "conf", "config", "php",
        "php4", "php5", "mysql", "cgi-bin", "home", "tmp", "temp", "adm", "system volume information",
    }
)
# Windows directories that only an inclusion probe names (user folders are ordinary).
_WINDOWS_SENSITIVE = frozenset({"windows", "winnt", "system32", "repair", "inetpub", "programdata", "program files", "program files (x86)", "xampp", "wamp", "system volume information", "boot.ini", "sysprep", "panther"})
# Files that are secrets wherever they sit.
_SECRET_FILE = re.compile(r"(?:passwd|shadow|htpasswd|\.htaccess|id_rsa|id_dsa|authorized_keys|\.bash_history|wp-config\.php|web\.config|ntuser\.(?:dat|ini)|\.env)$", re.IGNORECASE)
_SENSITIVE_NAME = re.compile(
    r"(?:passwd|shadow|htpasswd|htaccess|\.ini|\.inf|\.conf|\.cnf|\.cfg|\.log|_log|\.err|\.evt|\.sam|\bsam$|environ|cmdline|"
    r"history|id_rsa|id_dsa|authorized_keys|known_hosts|\.forward|\.rhosts|\.bashrc|wtmp|utmp|lastlog|syslog|config\.php|"
    r"web\.config|\.env)$",
    re.IGNORECASE,
)
# Server software whose configuration, logs and binaries file inclusion goes after.
_SERVER_DIRECTORY = re.compile(r"/(?:apache\d?|httpd|nginx|lighttpd|php\d?|mysql|mariadb|postgresql|cpanel|[\w-]{0,16}ftpd?|lampp|xampp|wamp|tomcat\d?|iis|htdocs|spool|ports|cgi-bin|webserver)(?:/|$)")
_ABSOLUTE = re.compile(r"^(?:[a-z]:[\\/](?![\\/])|[\\/]{1,2}(?=[\w.~$-])|file:/)", re.IGNORECASE)
_PATH_CHARS = re.compile(r"[\w.~$@%+\-\\/:()<> ]{1,1024}")
_WRAPPER = re.compile(
    r"(?:^|[\s=\"'(])(?:php://(?:filter|input|stdin|memory|temp|fd|output)|(?:file|expect|zip|phar|glob|ogg|rar|ssh2(?:\.\w{1,8})?|"
    r"compress\.(?:zlib|bzip2)|zlib|jar|netdoc|gopher|dict|tftp|ldap)://(?=[^\s'\"])|data://|data:(?:text/plain|application/x-httpd-php)[;,]|php:/)",
    re.IGNORECASE,
)
# The few files that are worth a finding even when only mentioned after "=" or a quote.
_MENTION = re.compile(r"(?:^|[\s'\"=(])(?:/etc/(?:passwd|shadow)\b|/proc/self/(?:environ|cmdline|fd|maps|mem)\b|[a-z]:/(?:windows|winnt)/(?:win|system)\.ini\b|[a-z]:/boot\.ini\b)", re.IGNORECASE)
_GATE_CHARACTERS = frozenset("./\\:\x00")
_GATE = re.compile(r"\.\.|^[\s\x00]{0,8}(?:[a-z]:|[\\/])|(?:^|[\\/])(?:etc|proc|windows|winnt|boot)\b|://|\b(?:data|php|file):|\x00|0x2e|0x2f|2f|%2e", re.IGNORECASE)


def _normalise(text: str) -> str:
    if "0x" in text or "2f" in text or "2e" in text or "%" in text:
        text = _HEX_SEPARATORS.sub(lambda m: _HEX_MAP[m.group(0).lower()], text)
    if not text.isascii():
        text = _PRIVATE_USE.sub("/", text)
    if "..." in text:
        # "....//" and long dot runs: what is left after a filter strips "../" once.
        text = _DOT_RUN.sub("..", text)
    return text.replace("\\", "/")


def _whole_value_path(value: str) -> tuple[str, str] | None:
    """A value that is itself a path to a system, server or log location."""
    candidate = value.strip().strip("\"'")
    for cut in ("\x00", "?", "#"):
        index = candidate.find(cut)
        if index >= 0:
            candidate = candidate[:index]
    if not candidate or not _PATH_CHARS.fullmatch(candidate):
        return None
    lowered = candidate.lower().replace("\\", "/")
    if _ABSOLUTE.match(candidate) is None:
        # A relative path straight into system files: "etc/passwd", "windows/win.ini".
        return ("sensitive_file", "high") if _SENSITIVE_TARGET.match(lowered) else None
    if lowered.startswith("file:"):
        return ("wrapper", "high")
    drive = len(lowered) > 2 and lowered[1] == ":"
    segments = [s for s in lowered[2 if drive else 0 :].split("/") if s and s != "."]
    if not segments:
        # "/./\\/././" probes how the server resolves self-references.
        return ("dot_segments", "medium") if lowered.count("./") >= 3 else None
    if _SENSITIVE_TARGET.search(lowered):
        return ("sensitive_file", "high")
    first, last = segments[0], segments[-1]
    if _SECRET_FILE.search(last):
        return ("sensitive_file", "high")
    if drive:
        if any(s in _WINDOWS_SENSITIVE for s in segments) or _SENSITIVE_NAME.search(last) or _SERVER_DIRECTORY.search(lowered):
            return ("absolute_path", "high")
        return None
    if first in _SYSTEM_ROOTS:
        return ("absolute_path", "high")
    if first in _SERVER_ROOTS and (_SENSITIVE_NAME.search(last) or _SERVER_DIRECTORY.search(lowered)):
        return ("absolute_path", "high")
    if first == "var" and len(segments) > 1 and segments[1] in ("log", "logs", "adm", "mail", "spool", "run", "lib", "db", "backups"):
        return ("absolute_path", "high")
    if first.startswith(".") and first not in ("..", ".well-known"):
        return ("absolute_path", "high")  # /.forward, /.ssh/..., /.env
    if len(segments) > 1 and " " not in lowered and _SENSITIVE_NAME.search(last):
        return ("absolute_path", "medium")
    return None


def detect(view: str, whole_value: bool = True) -> tuple[str, str, str] | None:
    """``(pattern, severity, shape)`` for traversal, sensitive paths and wrappers.

    ``whole_value`` is False for text that is not a single value (the request path, a header):
    there only ``..`` segments, wrappers and system targets inside the text count.
    """
    if _GATE_CHARACTERS.isdisjoint(view) or _GATE.search(view) is None:
        return None
    text = _normalise(view)
    if ".." in text:
        matches = _DOT_SEGMENT.findall(text)
        if matches:
            target = _SENSITIVE_TARGET.search(text) is not None
            if len(matches) >= 2 or target:
                return ("dot_dot", "critical" if target else "high", "../" * min(len(matches), 8))
            stripped = text.strip()
            if stripped.startswith(("/..", "//..")) or (stripped.startswith("..") and ("\x00" in stripped or len(stripped) <= 4)):
                return ("dot_dot", "medium", "../")
    if _WRAPPER.search(text) is not None:
        return ("wrapper", "high", "scheme://")
    if whole_value:
        found = _whole_value_path(view if "0x" not in view else text)
        if found is not None:
            return found[0], found[1], "/path"
    elif _SENSITIVE_TARGET.search(text) and (text.startswith("/") or "=" in text):
        return ("sensitive_file", "high", "/path")
    if _MENTION.search(text):
        return ("sensitive_file", "medium", "/path")
    if "\x00" in text:
        index = text.find("\x00")
        before = text[max(0, index - 64) : index]
        if "." in before and "/" in before:
            return ("null_byte", "medium", "path%00")
    return None
