"""Command injection: a shell separator or substitution followed by a command in shell form.

The value must end the application's command (``;``, ``|``, ``||``, ``&&``, ``&``, a newline)
or open a substitution (backticks, ``$(...)``) and then name a command (Unix or Windows) whose
arguments look like shell arguments for it: options, paths, hosts, numbers for ``sleep``, a URL
for ``curl``. "Hi; cat lovers" (a word where a file belongs), a markdown table row
``| id | name |`` (``name`` is no command), a user agent ``(...; U; id)`` and a markdown code span
(the `` `id` `` field) are not injections. Also: code execution through an interpreter call
(``system('id')``, ``<?php ... ?>``, ``${@print(...)}``), server-side includes
(``<!--#exec cmd=...-->``) and the Shellshock function prefix ``() { :;};``.
"""

from __future__ import annotations

import re

from otel_kit.signals.security.decoding import js_unescape

# Obfuscations the shell removes before running: w'h'o"a"mi, w\hoami, $@, ${IFS}, line continuations.
_SHELL_NOISE = re.compile(r"\\\n|(?<=\w)['\"]{1,2}(?=\w)|''|\"\"|\$@|\$\(\)|(?<=\w)``(?=\w)|\\(?=[a-z])|\$\{?IFS\}?(?:\$\d)?", re.IGNORECASE)
# Tricks that only make sense to hide a command word from a filter.
_OBFUSCATION = re.compile(r"\$\{?IFS|\$@|\$\(\)|``|\\[a-z]|\\\n|[a-z]['\"]{1,2}[a-z]['\"]{1,2}[a-z]|[a-z]''[a-z]|[a-z]\"\"[a-z]", re.IGNORECASE)


def _denoise(match: re.Match[str]) -> str:
    return " " if "ifs" in match.group(0).lower() else ""

_UNIX = {
    # command: argument classes it takes ("-": options, "p": paths/files, "n": numbers, "h": hosts/URLs,
    # "w": plain words, "q": quoted strings, "0": may stand alone)
    "id": "0-", "whoami": "0-", "uname": "0-", "pwd": "0-", "ifconfig": "0-w", "hostname": "0-", "ps": "0-",
    "env": "0-", "printenv": "0-", "netstat": "0-", "w": "0", "who": "0-", "uptime": "0-", "lsb_release": "0-",
    "ls": "0-p", "cat": "-p", "head": "-pn", "tail": "-pn", "more": "p", "less": "p", "tac": "-p", "nl": "-p",
    "grep": "-pq", "find": "-p", "rm": "-p", "cp": "-p", "mv": "-p", "chmod": "-pn", "chown": "-pw", "touch": "-p",
    "mkdir": "-p", "wc": "-p", "file": "-p", "stat": "-p", "echo": "-wqpn", "printf": "-wqp", "sleep": "n",
    "ping": "-nh", "nslookup": "h-", "dig": "h-", "host": "h", "curl": "-hqp", "wget": "-hqp", "nc": "-nhp",
    "ncat": "-nhp", "netcat": "-nhp", "telnet": "hn", "ftp": "h", "tftp": "-h", "ssh": "-h", "scp": "-ph",
    "bash": "0-pq", "sh": "0-pq", "zsh": "0-pq", "ksh": "0-pq", "csh": "0-pq", "dash": "0-pq", "tcsh": "0-pq",
    "python": "-pq", "python2": "-pq", "python3": "-pq", "perl": "-pq", "ruby": "-pq", "php": "-pq", "node": "-pq",
    "lua": "-pq", "awk": "-q", "sed": "-q", "base64": "-p", "xxd": "-p", "od": "-p", "tee": "-p", "kill": "-n",
    "killall": "-w", "reboot": "0", "crontab": "-p", "nohup": "c", "sudo": "c", "xterm": "-h", "socat": "-h",
    "openssl": "w", "nmap": "-h", "useradd": "-w", "mkfifo": "p", "sysinfo": "0", "phpinfo": "0",
}
_WINDOWS = {
    "dir": "0p-", "type": "p", "copy": "p", "del": "p-", "net": "*", "netsh": "*", "ipconfig": "0-", "systeminfo": "0",
    "tasklist": "0-", "taskkill": "-", "ver": "0", "cmd": "0-", "cmd.exe": "0-", "powershell": "0-pqw",
    "powershell.exe": "0-pqw", "pwsh": "0-pqw", "wmic": "*", "reg": "*", "sc": "*", "certutil": "-", "bitsadmin": "-",
    "mshta": "h", "rundll32": "p", "regsvr32": "-", "cscript": "p", "wscript": "p", "findstr": "-qw", "schtasks": "-",
    "getmac": "0", "timeout": "-n", "set": "0",
}
_COMMANDS = {**_UNIX, **_WINDOWS}
_NET_SUBCOMMANDS = frozenset({"user", "users", "view", "localgroup", "group", "share", "use", "start", "stop", "config", "accounts", "session", "firewall", "advfirewall", "interface", "wlan"})

# Only separators followed by something that can start a command are worth a closer look.
_SEPARATOR = re.compile(r"(\|\||&&|[;|&\n\r]|`|\$\()[\s\x00]{0,16}(?=[a-z/\\])", re.IGNORECASE)
_WORD = re.compile(r"((?:[a-z]:)?[\\/][\w.\\/-]{0,200}[\\/])?([a-z][a-z0-9_.-]{0,31})", re.IGNORECASE)
_ARGUMENT = re.compile(r"[ \t]{1,16}([a-z]:\\[^;|&`\n\r\"']{0,256}|\"[^\"\n]{0,512}\"?|'[^'\n]{0,512}'?|[^\s;|&`)'\"]{1,512})", re.IGNORECASE)
_OPTION = re.compile(r"(?:-{1,2}[a-z0-9][\w=.-]{0,64}|/[a-z?]{1,3})$", re.IGNORECASE)
_NUMBER = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,4})?[smhd]?$")
_HOST = re.compile(r"(?:[a-z][a-z0-9+.-]{0,16}://\S{1,512}|[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?::[0-9]{1,5})?|localhost|[a-z0-9-]{1,63}\.[a-z0-9.-]{1,255})$", re.IGNORECASE)
_PATHLIKE = re.compile(r"[~.]?/|[~.]?\\(?=.)|[a-z]:[\\/]|%\w{1,32}%|\$\w|\*|\.{1,2}$", re.IGNORECASE)
_FILENAME = re.compile(r"[\w-]{1,64}\.[a-z][a-z0-9]{0,7}", re.IGNORECASE)

_CODE_EXEC = re.compile(
    r"(?:(?<![\w.$])(?:system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec|assert|eval|os\.system|os\.popen|subprocess\.\w{1,16}|spawn|execsync|runtime\.getruntime\(\)\.exec)"
    r"\s{0,4}\(\s{0,4}[\"'`]\s{0,4}([a-z/][\w./-]{0,64}))",
    re.IGNORECASE,
)
_SCRIPT_OPTIONS = frozenset({"-c", "/c", "/k", "-e", "-r", "-enc", "-encodedcommand", "-command", "-exec"})
_INTERPRETERS = frozenset({"bash", "sh", "zsh", "ksh", "csh", "dash", "tcsh", "cmd", "cmd.exe", "powershell", "powershell.exe", "pwsh", "python", "python2", "python3", "perl", "ruby", "php", "node", "lua"})
_HOST_COMMANDS = frozenset({"ping", "nslookup", "dig", "host", "nc", "ncat", "netcat", "telnet", "ssh"})
_BARE_HOST = re.compile(r"[a-z][a-z0-9-]{0,62}", re.IGNORECASE)
_CODE_EXEC_NAMES = ("system", "exec", "passthru", "popen", "proc_open", "assert", "eval", "spawn")
_PHP = re.compile(r"<\?(?:php\b|=)|\$\{@\w{1,32}\(|\{\$\{\w{1,32}\(|\$_(?:get|post|request|server|cookie)\[|(?<![\w.$>])(?:phpinfo|phpversion)\s{0,4}\(\s{0,4}\)", re.IGNORECASE)
_SSI = re.compile(r"<!--\s{0,8}#\s{0,8}(?:exec|include|echo|config|printenv|set|fsize|flastmod)\b", re.IGNORECASE)
_SHELLSHOCK = re.compile(r"\(\s{0,8}\)\s{0,8}\{\s{0,8}:?\s{0,8};?\s{0,8}\}\s{0,8};")
_REVERSE_SHELL = re.compile(r"/dev/(?:tcp|udp)/|\b(?:nc|ncat|netcat)(?:\s[^\n;|&]{0,96})?\s-[a-z]{0,8}e\s{1,8}/|\bbash\s{1,8}-i\s{1,8}>&|\bmkfifo\s{1,8}/", re.IGNORECASE)
_GATE_CHARACTERS = frozenset(";|&`\n\r$<(>\\'\"")


def _argument_ok(classes: str, argument: str, command: str) -> bool:
    if classes == "*":
        return True
    if argument[0] in "\"'":
        # An unterminated quote runs into prose ("Python 3.14's annotationlib").
        return ("q" in classes or "w" in classes) and len(argument) > 1 and argument[-1] == argument[0]
    if argument[0] in "<>" or argument in ("2>&1", ">&2"):
        return True
    if _OPTION.match(argument):
        return "-" in classes or ("p" in classes and argument.startswith("/"))
    if "n" in classes and _NUMBER.match(argument):
        return True
    if "h" in classes and _HOST.match(argument):
        return True
    if "p" in classes and (_PATHLIKE.match(argument) or "/" in argument or (_FILENAME.fullmatch(argument) and not argument.split(".")[0].isdigit())):
        return True
    return "w" in classes and argument.isascii()


def _command_at(text: str, start: int, strict: bool, closing: str = "") -> tuple[str, int] | None:
    """The command at ``start`` and where its arguments end, when it is in shell form."""
    match = _WORD.match(text, start)
    if match is None:
        return None
    command = match.group(2).lower()
    classes = _COMMANDS.get(command)
    if classes is None:
        return None
    position = match.end()
    following = text[position : position + 1]
    if following and following not in " \t\n\r;|&`)'\"<>#\x00":
        return None  # "cats", "id_rsa", "cat:" — a longer word, not the command
    arguments = 0
    if "c" in classes:
        # nohup/sudo: the next word must itself be a command.
        nested = _ARGUMENT.match(text, position)
        if nested is None:
            return None
        inner = _command_at(text, nested.start(1), strict)
        return (command, inner[1]) if inner is not None else None
    if command == "net":
        nxt = _ARGUMENT.match(text, position)
        if nxt is None or nxt.group(1).lower() not in _NET_SUBCOMMANDS:
            return None
    free = False  # after a redirection or "-c"/"/c", the next arguments are a file or a script
    options = False
    while arguments < 16:
        argument = _ARGUMENT.match(text, position)
        if argument is None:
            break
        value = argument.group(1)
        if not free and not _argument_ok(classes, value, command):
            # A bare host name after options: "ping -c 3 evil" (but not "ping pong").
            if not (options and command in _HOST_COMMANDS and _BARE_HOST.fullmatch(value)):
                return None
        if value.lower() in _SCRIPT_OPTIONS and command in _INTERPRETERS:
            # The script itself must follow: "bash -c \\" at a line end is a continuation, not a script.
            script = _ARGUMENT.match(text, argument.end())
            if script is None or script.group(1) in ("\\", "\\\n"):
                return None
            free = True
        free = free or value in (">", ">>", "<", "2>", "1>")
        options = options or value.startswith("-")
        arguments += 1
        position = argument.end()
    if arguments == 0 and "0" not in classes:
        return None
    if strict and command in ("echo", "printf") and not free:
        # "; echo chamber" is prose; an injected echo prints a variable or a quoted payload,
        # writes somewhere or is followed by more commands.
        printed = text[match.end() : position]
        rest = text[position:].lstrip(" \t")
        if not any(c in printed for c in "$'\"`>") and not (rest and rest[0] in ">|;&\n\r`)"):
            return None
    if strict:
        # The command must end the value or meet another shell metacharacter, not run on into prose.
        rest = text[position:].lstrip(" \t")
        if rest and rest[0] not in ";|&`'\"\n\r#<>\x00" and rest[0] != closing:
            # "(MTK; U; id) Presto" in a user agent: ")" closes a list, not a substitution.
            return None
    return command, position


def _pipeline_continues(text: str, position: int) -> bool:
    """After ``a | b``: a markdown table row ``| id | name |`` is not a pipeline."""
    rest = text[position:].lstrip(" \t")
    if not rest.startswith("|") or rest.startswith("||"):
        return True
    after = rest[1:]
    if not after[:1].isspace():
        return True
    after = after.lstrip(" \t")
    if not after[:1].isalpha():
        return True
    return _command_at(after, 0, False) is not None


def _prose_backticks(text: str, start: int, close: int) -> bool:
    """`` the `id` field ``: a markdown code span starting a word and followed by more words."""
    before = text[start - 1] if start > 0 else " "
    after = text[close + 1 : close + 3]
    return before.isspace() and len(after) == 2 and after[0] == " " and after[1].isalpha()


def _separated(text: str) -> tuple[str, str] | None:
    for match in _SEPARATOR.finditer(text):
        separator = match.group(1)
        start = match.end()
        if separator == "&" and text[start : start + 1] == "#":
            continue
        found = _command_at(text, start, strict=True, closing=")" if separator == "$(" else "")
        if found is None:
            continue
        command, end = found
        if separator == "`":
            if text[match.start() - 1 : match.start()] == "`" or text[match.start() + 1 : match.start() + 2] == "`":
                continue  # a markdown fence or a doubled backtick, not a substitution
            close = text.find("`", end)
            if close < 0 and end < len(text):
                continue
            if close >= 0 and _prose_backticks(text, match.start(), close):
                continue
        elif separator == "$(":
            if text[end : end + 1].strip(" \t") not in (")", "") and text.find(")", end) < 0:
                continue
        elif separator == "|" and not _pipeline_continues(text, end):
            continue
        return "chained_command" if separator not in ("`", "$(") else "substitution", command
    return None


def detect(view: str) -> tuple[str, str, str] | None:
    """``(pattern, severity, shape)`` when ``view`` (decoded) would run a shell command."""
    if _GATE_CHARACTERS.isdisjoint(view):
        return None
    text = js_unescape(view) if "\\" in view else view
    found = _detect(text)
    if found is None and _OBFUSCATION.search(text):
        denoised = _SHELL_NOISE.sub(_denoise, text)
        found = _detect(denoised) or _obfuscated_command(denoised)
    return found


def _detect(text: str) -> tuple[str, str, str] | None:
    lowered = text.lower()
    if "{" in text and _SHELLSHOCK.search(text):
        return "shellshock", "critical", "() { :;};"
    if "<!--" in text and _SSI.search(text):
        return "server_side_include", "high", "<!--#exec"
    found = _separated(text)
    if found is not None:
        return found[0], "critical", ("; " if found[0] == "chained_command" else "$(") + "cmd"
    if ("/dev/" in lowered or "nc " in lowered or "bash" in lowered or "mkfifo" in lowered) and _REVERSE_SHELL.search(text):
        return "reverse_shell", "critical", "nc -e"
    if "(" in text and any(name in lowered for name in _CODE_EXEC_NAMES):
        match = _CODE_EXEC.search(text)
        if match is not None and _command_at(text, match.start(1), False) is not None:
            return "code_execution", "high", "system('cmd')"
    if ("<?" in text or "${" in text or "{$" in text or "$_" in text or "php" in lowered) and _PHP.search(text):
        return "code_execution", "high", "<?php"
    if text[:1].isalpha() or text[:1] in "/\\":
        # A whole value that is a command chained to another (or backgrounded).
        start = _command_at(text, 0, strict=True)
        if start is not None and start[1] < len(text) and text[start[1]:].lstrip()[:1] in ("|", ";", "&", ">"):
            return "chained_command", "critical", "cmd; cmd"
    return None


def _obfuscated_command(text: str) -> tuple[str, str, str] | None:
    """After removing shell quoting tricks the value is a command: the tricks show intent."""
    start = _command_at(text.lstrip(), 0, strict=True)
    return ("obfuscated_command", "critical", "cmd") if start is not None else None
