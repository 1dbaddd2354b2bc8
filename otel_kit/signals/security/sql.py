"""SQL injection judged from SQL's grammar, not from keyword lists.

A value is an injection when, placed where an application would put it — inside a quoted
literal (``'...'`` or ``"..."``), in a numeric or expression position, or after an operand the
application wrote — it ends that context and continues as well-formed SQL that does something:
a constant tautology, ``UNION SELECT``, a stacked statement, a time or exfiltration function, an
``ORDER BY <n>`` probe, a comment that cuts off the rest of the query. The value is tokenized
(strings, numbers, identifiers, keywords, operators, comments, parentheses) and read by a small
state machine that accepts only token sequences SQL accepts, so English prose ("union station
chicago"), SQL questions ("GROUP BY on multiple columns") and code (``time.sleep(5)``) are not
attacks. Tokenizing is one regex pass; the machine reads each token once, at most ``MAX_TOKENS``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from otel_kit.signals.security.decoding import js_unescape

MAX_TOKENS = 400

_TOKEN = re.compile(
    r"(?P<ws>[\s\x00-\x1f]{1,8192}|/\*![0-9]{0,6}|\*/|/\*(?:[^*]|\*(?!/)){0,8192}\*/)"
    r"|(?P<comment>--[^\n]{0,8192}|#[^\n]{0,8192}|/\*[\s\S]{0,8192})"
    r"|(?P<string>[nxb]?'(?:[^']|''){0,8192}'?|\"(?:[^\"]|\"\"){0,8192}\"?)"
    r"|(?P<qident>`[^`]{0,256}`?|\[[^\]\s]{1,128}\])"
    r"|(?P<number>0x[0-9a-f]{1,512}|0b[01]{1,512}|(?:[0-9]{1,64}(?:\.[0-9]{0,64})?|\.[0-9]{1,64})(?:e[-+]?[0-9]{1,4})?)"
    r"|(?P<var>@@?(?:[\w$]|\.(?=\w)){0,64})"
    r"|(?P<word>[^\W\d](?:[\w$]|\.(?=[^\W\d])|\.\.(?=[^\W\d])){0,128})"
    r"|(?P<op>\|\||&&|<=>|<>|!=|<=|>=|:=|::|<<|>>|[-+*/%^&|~!=<>])"
    r"|(?P<lp>\()|(?P<rp>\))|(?P<comma>,)|(?P<semi>;)"
    r"|(?P<other>.)",
    re.DOTALL | re.IGNORECASE,
)
_CALL_AHEAD = re.compile(r"[ \t]{0,8}\(")

_LOGIC = frozenset({"or", "and", "xor", "||", "&&"})
_COMPARE = frozenset({"=", "<", ">", "<=", ">=", "<>", "!=", "<=>", "like", "rlike", "regexp", "ilike", "glob", "is", "in", "between", "sounds"})
_ARITH = frozenset({"+", "-", "*", "/", "%", "^", "&", "|", "<<", ">>", "::", "div", "mod", "collate", "escape"})
_UNARY = frozenset({"-", "+", "~", "!"})
_LITERAL_WORDS = frozenset({"null", "true", "false", "unknown", "default", "current_user", "current_date", "current_time", "current_timestamp", "localtime", "localtimestamp", "sysdate", "rownum", "session_user", "system_user"})
_PREFIX_WORDS = frozenset({"not", "exists", "binary", "interval", "distinct", "all", "case", "prior", "top"})
_RESERVED = frozenset(
    {
        "select", "from", "where", "group", "order", "by", "having", "limit", "offset", "union", "intersect", "except",
        "minus", "into", "procedure", "join", "inner", "left", "right", "outer", "cross", "natural", "on", "using",
        "as", "asc", "desc", "all", "distinct", "top", "when", "then", "else", "end", "case", "exists", "values",
        "table", "and", "or", "xor", "not", "is", "in", "between", "like", "rlike", "regexp", "ilike", "insert",
        "update", "delete", "drop", "create", "alter", "truncate", "exec", "execute", "declare", "set", "waitfor",
        "delay", "shutdown", "grant", "revoke", "with", "outfile", "dumpfile", "for", "fetch", "sounds", "div", "mod",
    }
)
# What EXEC runs: a stored or extended procedure, dynamic SQL (EXECUTE IMMEDIATE), a variable.
_PROCEDURE = re.compile(r"(?:xp_|sp_|master\.|dbo\.|sys\.|msdb\.|immediate$)|[\w$]{1,64}\.[\w$]{1,64}", re.IGNORECASE)
_STATEMENTS = frozenset({"select", "insert", "replace", "update", "delete", "drop", "create", "alter", "truncate", "exec", "execute", "declare", "set", "shutdown", "waitfor", "grant", "if", "call", "load", "begin"})
# Keywords stay keywords before "(" ("select (", "in (", "when ("); a few are also functions.
_NOT_CALLS = (_RESERVED | _LOGIC | _COMPARE) - {"left", "right", "insert", "replace", "mod", "values", "exists", "like", "glob", "exec", "execute"}
# Statements that only follow ";" (their names are also ordinary words).
_AFTER_SEMICOLON = frozenset({"desc", "describe", "show"})
# Statements an injection may append without ";" (SQL Server batches): never "select" outside a quote.
_ADJACENT = frozenset({"exec", "execute", "declare", "shutdown", "waitfor"})
# ... and after a quote also data changes ("x' insert into ..."); never "select", "set" or "if",
# which quoted prose starts with ('The "select" button').
_QUOTE_ADJACENT = frozenset({"insert", "replace", "update", "delete", "drop", "create", "alter", "truncate"})
_TIME_FUNCTIONS = frozenset({"sleep", "pg_sleep", "pg_sleep_for", "benchmark", "randomblob", "dbms_lock.sleep", "sys.dbms_lock.sleep", "dbms_pipe.receive_message", "sys.dbms_pipe.receive_message", "dbms_session.sleep"})
# Functions and objects only an injection has reason to reach: out-of-band, error-based, file access.
_STRONG_EXFIL = frozenset(
    {
        "load_file", "extractvalue", "updatexml", "name_const", "gtid_subset", "utl_inaddr.get_host_address",
        "utl_inaddr.get_host_name", "utl_http.request", "httpuritype", "dbms_xmlgen.getxml", "ctxsys.drithsx.sn",
        "xp_cmdshell", "master..xp_cmdshell", "master.dbo.xp_cmdshell", "sp_oacreate", "openrowset", "opendatasource",
        "xp_dirtree", "master..xp_dirtree", "pg_read_file", "pg_ls_dir", "lo_import", "lo_export", "dbms_pipe.receive_message",
    }
)
# Functions injections use to probe or build values; suspicious only together with a breakout.
_PROBE_FUNCTIONS = frozenset(
    {
        "exp", "geometrycollection", "multipoint", "polygon", "multipolygon", "linestring", "multilinestring", "xmltype",
        "version", "database", "schema", "user", "current_user", "system_user", "session_user", "db_name", "user_name",
        "host_name", "elt", "make_set", "substring", "substr", "mid", "ascii", "ord", "char", "chr", "concat", "concat_ws",
        "group_concat", "hex", "unhex", "md5", "if", "iif", "count", "length", "len", "convert", "cast", "rand", "floor",
        "isnull", "ifnull", "nullif", "coalesce",
    }
)
_CATALOG = re.compile(r"information_schema|sysobjects|syscolumns|\bsys\.(?:objects|tables|columns|databases|schemas|sql_logins|server_principals|all_\w|user_\w|dba_\w|sysobjects|syslogins)|all_tab|all_users|all_tables|user_tables|dba_|pg_catalog|pg_shadow|pg_user|mysql\.user|sqlite_master|msysobjects", re.IGNORECASE)
_UNION_SELECT = re.compile(r"\bunion[\s(]{1,64}(?:(?:all|distinct)[\s(]{1,64})?select", re.IGNORECASE)
_INLINE_COMMENT = re.compile(r"/\*[^*]{0,256}\*/")
# Shortcuts for the common case, taken before any tokenizing: a word right after a quote, or
# two words at the start (a word followed by "(" is a call and does not count as plain).
_WORD_AT = re.compile(r"[ \t]{0,64}([^\W\d][\w$]{0,63})(?![\w$.(])(?![ \t]{1,8}\()")
_TWO_WORDS = re.compile(r"[ \t]{0,64}([^\W\d][\w$]{0,63})[ \t]{1,8}([^\W\d][\w$]{0,63})(?![\w$.(])")
_QUOTE_TABLE = str.maketrans({"\u2013": "--", "\u2014": "--"})

# Features the state machine reports.
BOOL = "bool"  # OR/AND followed by an operand other than one lone string
CMP = "cmp"  # that operand contains a comparison
TAUT = "tautology"  # a constant comparison (1=1, 'a'='a', x=x, LIKE '%') or a constant operand (OR 1)
UNION = "union"
STACK = "stacked"
TIME = "time"
EXFIL = "exfil"  # an exfiltration/error-based function, a catalog table, a server variable
PROBE = "probe"  # a probing function (substring, ascii, char, if ...)
SUBQ = "subquery"
CLAUSE = "clause"  # ORDER BY <n>, GROUP BY <n>, HAVING, LIMIT <n>, PROCEDURE ANALYSE, INTO OUTFILE
COMMENT = "comment"  # the value ends in a comment that cuts off the rest of the query
SHORT_COMMENT = "short_comment"  # ... an (almost) empty one, as in admin'--
CLOSE = "close"  # closes a parenthesis the application opened
ARITH = "arith"  # continues with an arithmetic or concatenation operator
FUNC = "func"
EXEC = "exec"  # runs a variable holding SQL (EXEC(@q))
HEAD_CMP = "head_cmp"  # the value starts with a comparison ("1 < 2 and 3 > 2" is arithmetic prose)
HEAD_CALL = "head_call"  # the value starts with a call or a name ("len(x) or f(y)" is code, "1 and ascii(...)" is not)

Token = tuple[str, str]


class _Lexer:
    """Tokens of ``text`` from ``start`` as (kind, lower-case text); ``call`` is a word before ``(``."""

    __slots__ = ("_buffer", "_iter", "_text", "count")

    def __init__(self, text: str, start: int) -> None:
        self._text = text
        self._iter = _TOKEN.finditer(text, start)
        self._buffer: list[Token] = []
        self.count = 0

    def _read(self) -> Token | None:
        for match in self._iter:
            kind = match.lastgroup or "other"
            if kind == "ws":
                continue
            value = match.group()
            if kind == "word":
                value = value.lower()
                if value not in _NOT_CALLS and _CALL_AHEAD.match(self._text, match.end()) is not None:
                    kind = "call"
            return kind, value
        return None

    def next(self) -> Token | None:
        self.count += 1
        if self._buffer:
            return self._buffer.pop(0)
        return self._read()

    def peek(self, index: int = 0) -> Token | None:
        while len(self._buffer) <= index:
            token = self._read()
            if token is None:
                return None
            self._buffer.append(token)
        return self._buffer[index]


class Analysis(NamedTuple):
    valid: bool
    features: frozenset[str]
    shape: str


_INVALID = Analysis(False, frozenset(), "")


def _shape(kind: str, text: str) -> str:
    """A token's class, never the user's characters: keywords and operators come from fixed sets."""
    if kind == "string":
        return "S"
    if kind == "number":
        return "N"
    if kind in ("word", "call"):
        if text in _RESERVED or text in _LITERAL_WORDS or text in _TIME_FUNCTIONS or text in _STRONG_EXFIL or text in _PROBE_FUNCTIONS:
            return text.upper()
        return "F" if kind == "call" else "I"
    if kind == "comment":
        return "#" if text.startswith("#") else text[:2]
    if kind == "var":
        return "@"
    if kind == "qident":
        return "I"
    if kind == "other":
        return "?"
    return text


def _statement_starts(lex: _Lexer, head: str) -> bool:
    """Whether the tokens after a statement keyword begin a real statement of that kind."""
    nxt = lex.peek()
    if nxt is None:
        return head == "shutdown"
    kind, text = nxt
    if head == "select":
        return kind in ("number", "string", "var", "call", "lp", "qident") or text in ("*", "distinct", "all", "top", "case", "not", "exists") or text in _LITERAL_WORDS or (kind == "word" and text not in _RESERVED)
    # Each statement is checked a few tokens deep: "Insert into the box", "Delete from the
    # list", "Drop table tennis club" and "Execute the plan" are English.
    after = lex.peek(1)
    following = lex.peek(2)
    third = following[1] if following is not None else ""
    if head in ("insert", "replace"):
        return text == "into" and after is not None and (after[0] == "call" or (after[0] in ("word", "qident") and (following is None or third in ("values", "value", "select", "set"))))
    if head == "update":
        return kind in ("word", "qident") and after is not None and after[1] == "set"
    if head == "delete":
        return text == "from" and after is not None and after[0] in ("word", "qident") and (following is None or third in ("where", ";", "--", "#") or following[0] in ("comment", "semi"))
    if head in ("drop", "create", "alter", "truncate"):
        if text not in ("table", "database", "user", "view", "procedure", "function", "index", "login", "schema", "trigger", "role", "temporary"):
            return False
        if after is None or after[0] not in ("word", "qident", "call"):
            return False
        return following is None or following[0] in ("comment", "semi", "lp", "comma") or third in ("identified", "with", "add", "modify", "cascade", "as", "password", "if", "set")
    if head in ("exec", "execute"):
        return kind in ("var", "lp") or (kind in ("word", "call", "qident") and _PROCEDURE.match(text) is not None)
    if head == "declare":
        return kind == "var"
    if head == "set":
        after = lex.peek(1)
        return kind == "var" or (kind == "word" and after is not None and after[1] in ("=", ":="))
    if head == "shutdown":
        return kind in ("comment", "semi") or text == "with"
    if head == "waitfor":
        return text in ("delay", "time")
    if head == "if":
        return kind in ("lp", "call") or text in ("not", "exists")
    if head == "grant":
        return text in ("all", "select", "insert", "update", "delete", "execute", "usage", "dba", "connect", "resource")
    if head == "call":
        return kind == "call"
    if head == "load":
        return text in ("data", "xml")
    if head in ("desc", "describe", "show"):
        return kind == "word" and text not in _RESERVED
    if head == "begin":
        return text in _STATEMENTS or text in ("tran", "transaction")
    return False


class _Machine:
    """One reading of the tokens; see ``analyse``."""

    def __init__(self, text: str, start: int, mode: str) -> None:
        self.lex = _Lexer(text, start)
        # "x' SELECT ..." may be a SQL Server batch; 'The "select" button' (a space before the
        # quote: prose) is not.
        self.bare_prefix = mode == "quote" and not any(c.isspace() for c in text[: max(start - 1, 0)])
        self.mode = mode
        self.features: set[str] = set()
        self.shape: list[str] = []
        self.expect = mode in ("expression", "statement")
        self.depth = 0
        self.lenient = False
        # After a breakout (quote, fragment) a decisive feature settles it: the rest need not parse.
        # A value that is itself the expression must parse to the end ("sleep(8 hours)").
        self.may_skip = mode in ("quote", "fragment")
        self.select_list = False
        self.after_union = False
        self.after_open = False
        self.clause_number = False  # ORDER BY / GROUP BY: a number next is a column probe
        self.comparing = ""  # "", "eq", "cmp" or "like": the operator awaiting its right operand
        self.left: Token | None = ("string", "") if mode == "quote" else None
        self.last: Token | None = self.left
        self.logic_depth = -1
        self.logic_tokens: list[Token] = []
        self.logic_cmp = False
        self.ended_comment = False
        self.last_kind = ""
        self.head = ""

    # --- features of a boolean operand ---------------------------------------------------------

    def start_logic(self) -> None:
        self.end_logic()
        self.logic_depth = self.depth
        self.logic_tokens = []
        self.logic_cmp = False

    def end_logic(self) -> None:
        if self.logic_depth < 0:
            return
        tokens = self.logic_tokens
        if len(tokens) == 1:
            kind, text = tokens[0]
            if (kind == "number" and text != "0") or (kind == "word" and text in ("true", "not")):
                self.features.update((TAUT, BOOL))
            elif kind == "string" and text.strip("'\"nxb")[:1] in ("1", "2", "3", "4", "5", "6", "7", "8", "9"):
                # MySQL reads '1=1' as the number 1: true.
                self.features.update((TAUT, BOOL))
        elif tokens:
            self.features.add(BOOL)
            if self.logic_cmp:
                self.features.add(CMP)
        self.logic_depth = -1

    # --- the machine ---------------------------------------------------------------------------

    def run(self) -> Analysis:
        lex = self.lex
        first = self.mode != "expression" and self.mode != "statement"
        first_operand = True
        if self.mode == "statement":
            head = lex.next()
            if head is None or not _statement_starts(lex, head[1]):
                return _INVALID
            self.shape.append(head[1].upper())
            self.expect = False
            self.head = head[1]
            if head[1] == "select":
                self.select_list = self.expect = True
            elif head[1] == "if":
                self.expect = True
            else:
                if head[1] in ("exec", "execute"):
                    nxt = lex.peek()
                    if nxt is not None and (nxt[0] == "var" or (nxt[0] == "lp" and (lex.peek(1) or ("", ""))[0] == "var")):
                        self.features.add(EXEC)
                self.lenient = True
        while True:
            token = lex.next()
            if token is None:
                break
            if lex.count > MAX_TOKENS:
                if self.lenient:
                    break
                return _INVALID
            kind, text = token
            if len(self.shape) < 32:
                self.shape.append(_shape(kind, text))
            if kind == "comment":
                self.ended_comment = True
                body = text[1:] if text.startswith("#") else text[2:]
                if len(body.strip(" -+#*/;\t")) <= 1:
                    self.features.add(SHORT_COMMENT)
                continue
            self.ended_comment = False
            self.features.discard(SHORT_COMMENT)
            if self.lenient:
                self.note_strong(kind, text)
                continue
            if self.logic_depth >= 0:
                self.logic_tokens.append(token)
            if self.expect:
                if first_operand and self.mode == "expression":
                    first_operand = False
                    if kind in ("call", "word") and text not in _LITERAL_WORDS:
                        self.features.add(HEAD_CALL)
                ok = self.operand(kind, text)
            else:
                if first and kind in ("word", "call") and text not in _RESERVED and text not in _LOGIC and text not in _STATEMENTS:
                    return _INVALID
                ok = self.continuation(kind, text)
            first = False
            if not ok:
                return _INVALID
            self.last_kind = kind
        if self.expect and not self.lenient:
            # "GROUP BY 1,2,--" is how probes end a column list.
            if not (self.ended_comment and self.last_kind == "comma"):
                return _INVALID
        self.end_logic()
        if self.ended_comment:
            self.features.add(COMMENT)
        return Analysis(True, frozenset(self.features), " ".join(self.shape)[:64])

    def note_strong(self, kind: str, text: str) -> None:
        if kind == "call":
            if text in _TIME_FUNCTIONS:
                self.features.add(TIME)
            elif text in _STRONG_EXFIL:
                self.features.add(EXFIL)
            elif text in ("exec", "execute"):
                nxt = self.lex.peek(1)
                if nxt is not None and nxt[0] == "var":
                    self.features.add(EXEC)
        elif kind == "word":
            if text in _STRONG_EXFIL or _CATALOG.search(text):
                self.features.add(EXFIL)
            elif text == "delay" and self.shape[-2:-1] == ["WAITFOR"]:
                self.features.add(TIME)

    def operand(self, kind: str, text: str) -> bool:
        features = self.features
        atom: Token
        if kind in ("number", "string", "var", "qident"):
            atom = (kind, text)
            if kind == "var" and text.startswith("@@"):
                features.add(EXFIL)
        elif kind == "word":
            if text in _LITERAL_WORDS:
                atom = ("number", text)
            elif text == "select" and (self.after_union or self.after_open or self.select_list):
                if self.after_union:
                    features.add(UNION)
                    self.lenient = self.may_skip
                elif self.after_open:
                    features.add(SUBQ)
                self.select_list = True
                self.after_union = self.after_open = False
                return True
            elif text in _PREFIX_WORDS:
                nxt = self.lex.peek()
                if (text == "top" and nxt is not None and nxt[0] == "number") or (text == "case" and nxt is not None and nxt[1] == "when"):
                    self.lex.next()
                return True
            elif text in _RESERVED:
                return False
            else:
                atom = ("ident", text)
                if text in _STRONG_EXFIL or _CATALOG.search(text):
                    features.add(EXFIL)
                    self.lenient = self.lenient or self.mode in ("quote", "fragment")
        elif kind == "call":
            return self.call(text)
        elif kind == "lp":
            self.depth += 1
            self.after_open = True
            return True
        elif kind == "op" and text in _UNARY:
            return True
        elif kind == "op" and text == "*" and (self.select_list or self.after_open):
            atom = ("star", text)
        elif kind == "rp" and self.after_open:
            self.depth -= 1
            atom = ("call", "")
        else:
            return False
        self.complete(atom)
        return True

    def call(self, name: str) -> bool:
        features = self.features
        features.add(FUNC)
        if name in _TIME_FUNCTIONS:
            features.add(TIME)
            self.lenient = self.may_skip
        elif name in _STRONG_EXFIL:
            features.add(EXFIL)
            self.lenient = self.may_skip
        elif name in _PROBE_FUNCTIONS:
            features.add(PROBE)
        elif name in ("exec", "execute"):
            nxt = self.lex.peek(1)
            if nxt is not None and nxt[0] == "var":
                features.add(EXEC)
                self.lenient = True
        self.lex.next()  # the "(" the lookahead saw
        self.depth += 1
        self.after_open = True
        if self.logic_depth >= 0:
            self.logic_tokens.append(("lp", "("))
        return True

    def complete(self, atom: Token) -> None:
        self.after_open = False
        if self.comparing and self.left is not None:
            left = self.left
            if self.comparing == "like" and atom[0] == "string" and atom[1].strip("'\"%_ ") == "":
                self.features.add(TAUT)  # LIKE '%' matches everything
            elif left[0] in ("number", "string") and atom[0] in ("number", "string"):
                # Outside OR/AND, only "'='" itself counts: "'=' not finding match ..." compares
                # with prose, 'if s == "<":' is code.
                if self.logic_depth >= 0 or (self.comparing == "eq" and " " not in atom[1].strip()):
                    self.features.add(TAUT)
            elif left[0] == "ident" and atom == left:
                self.features.add(TAUT)
        self.comparing = ""
        if self.clause_number and atom[0] == "number":
            self.features.add(CLAUSE)
        self.clause_number = False
        self.last = atom
        self.expect = False

    def continuation(self, kind: str, text: str) -> bool:
        lex = self.lex
        features = self.features
        if kind == "op" or (kind in ("word", "call") and (text in _LOGIC or text in _COMPARE or text in _ARITH)):
            if text in _LOGIC:
                self.start_logic()
            elif text in _COMPARE:
                if text == "sounds":
                    nxt = lex.next()
                    if nxt is None or nxt[1] != "like":
                        return False
                if text == "is":
                    nxt = lex.peek()
                    if nxt is not None and nxt[1] == "not":
                        lex.next()
                self.left = self.last
                self.comparing = "like" if text in ("like", "ilike") else "eq" if text in ("=", "<=>") else "cmp"
                if self.logic_depth >= 0:
                    self.logic_cmp = True
                if self.mode in ("fragment", "expression") and self.logic_depth < 0 and self.depth == 0:
                    features.add(CMP)
                    if BOOL not in features and self.mode == "expression":
                        features.add(HEAD_CMP)
            else:
                features.add(ARITH)
            self.expect = True
            return True
        if kind in ("word", "call"):
            if self.last_kind == "rp" and self.select_list and kind == "word" and text not in _RESERVED:
                return True  # a derived table's alias: (SELECT ...)x
            return self.keyword(text)
        if kind == "rp":
            if self.depth > 0:
                self.depth -= 1
            else:
                features.add(CLOSE)
            if self.logic_depth > self.depth:
                self.end_logic()
            self.last = ("call", ")")
            return True
        if kind == "comma":
            self.expect = True
            return True
        if kind == "semi":
            self.end_logic()
            nxt = lex.peek()
            if nxt is None or nxt[0] in ("comment", "semi"):
                return True
            head = lex.next()
            if head is None or head[0] not in ("word", "call") or (head[1] not in _STATEMENTS and head[1] not in _AFTER_SEMICOLON):
                return False
            return self.statement(head[1])
        return False

    def statement(self, head: str) -> bool:
        if not _statement_starts(self.lex, head):
            return False
        self.end_logic()
        if self.mode != "statement":
            self.features.add(STACK)
        if head == "select":
            self.select_list = True
            self.expect = True
        else:
            self.lenient = True
            if head == "waitfor":
                self.features.add(TIME)
        return True

    def keyword(self, text: str) -> bool:
        lex = self.lex
        features = self.features
        if text == "not":
            nxt = lex.peek()
            return nxt is not None and nxt[1] in ("in", "like", "between", "regexp", "rlike", "ilike", "exists")
        if text in ("union", "intersect", "except", "minus"):
            self.end_logic()
            nxt = lex.peek()
            if nxt is not None and nxt[1] in ("all", "distinct"):
                lex.next()
            nxt = lex.peek()
            if nxt is None or (nxt[1] != "select" and nxt[0] != "lp"):
                return False
            self.after_union = True
            self.expect = True
            return True
        if text in ("order", "group"):
            nxt = lex.next()
            if nxt is None or nxt[1] != "by":
                return False
            self.end_logic()
            self.clause_number = True
            self.expect = True
            return True
        if text in ("having", "limit", "offset"):
            # HAVING counts through what follows (HAVING 1=1 is a tautology); LIMIT <n> is a probe.
            self.end_logic()
            self.clause_number = text != "having"
            self.expect = True
            return True
        if text in ("where", "on", "when", "then", "else", "top"):
            self.end_logic()
            self.expect = True
            return True
        if text == "from":
            nxt = lex.peek()
            if nxt is None or nxt[0] not in ("word", "qident", "lp", "call"):
                return False
            self.expect = True
            return True
        if text == "into":
            nxt = lex.next()
            if nxt is None:
                return False
            if nxt[1] in ("outfile", "dumpfile"):
                features.update((CLAUSE, EXFIL))
                self.lenient = True
                return True
            return nxt[0] == "var"
        if text == "procedure":
            nxt = lex.peek()
            if nxt is None or nxt[1] != "analyse":
                return False
            features.add(CLAUSE)
            self.lenient = True
            return True
        if text == "as":
            nxt = lex.next()
            return nxt is not None and nxt[0] in ("word", "qident", "string", "call")
        if text in ("asc", "desc", "end"):
            return True
        if text in ("join", "inner", "left", "right", "outer", "cross", "natural"):
            self.expect = text == "join"
            return True
        if text == "for":
            nxt = lex.next()
            return nxt is not None and nxt[1] in ("update", "xml", "json", "share")
        if text == "else" and self.mode == "statement":
            nxt = lex.next()
            return nxt is not None and nxt[1] in _STATEMENTS and self.statement(nxt[1])
        if text in _ADJACENT or (text in _STATEMENTS and self.mode == "statement") or (self.mode == "quote" and (text in _QUOTE_ADJACENT or (text == "select" and self.bare_prefix))):
            return self.statement(text)
        return False


def analyse(text: str, start: int, mode: str) -> Analysis:
    """Read ``text`` from ``start`` as SQL in ``mode``.

    ``quote``: just after a quote that closed the application's literal. ``fragment``: the value
    continues an operand the application wrote (``OR 1=1``). ``expression``: the value is the
    operand (``1 OR 1=1``). ``statement``: the value is a whole statement (``DECLARE @q ...``).
    """
    return _Machine(text, start, mode).run()


def _analyse_plain(text: str, mode: str) -> tuple[Analysis, str]:
    machine = _Machine(text, 0, mode)
    return machine.run(), machine.head


_GATE = re.compile(r"['\"`;()#=<>|&]|--|/\*|\b(?:or|and|xor|union|select|sleep|benchmark|waitfor|order|group|having|like|exec|execute|declare|drop|shutdown|pg_sleep)\b", re.IGNORECASE)
_BREAKOUT_TOKENS = frozenset({"op", "rp", "semi", "comment", "comma"})
_FRAGMENT_WORDS = frozenset({"or", "and", "xor", "union", "order", "group", "having", "where", "limit", "procedure", "into", "waitfor", "like", "rlike", "regexp", "is", "in", "between", "div", "mod", "as"})
_SQL_WORDS = _RESERVED | _STATEMENTS | _LOGIC | _COMPARE | _ARITH | _LITERAL_WORDS | _FRAGMENT_WORDS


def _union_select(text: str) -> bool:
    """UNION SELECT as consecutive tokens, for payloads whose tail the machine cannot follow."""
    if "/*" in text:
        text = _INLINE_COMMENT.sub(" ", text)
    return _UNION_SELECT.search(text) is not None


def _first(text: str, start: int) -> Token | None:
    return _Lexer(text, start).next()


def _judge_quote(features: frozenset[str]) -> tuple[str, str] | None:
    if UNION in features:
        return "union_select", "critical"
    if TIME in features:
        return "time_based", "critical"
    if STACK in features or EXEC in features:
        return "stacked_query", "critical"
    if TAUT in features:
        return "tautology", "high"
    if EXFIL in features:
        return "error_based", "high"
    if CLAUSE in features:
        return "structure_probe", "high"
    if BOOL in features or SUBQ in features:
        return "boolean", "high"
    if COMMENT in features and SHORT_COMMENT in features:
        # admin'-- alone: the weakest SQL signal (strong passwords contain '"#-- too): never refused by default.
        return "comment_terminator", "medium"
    if ARITH in features and FUNC in features:
        return "concatenation", "high"
    return None


def _judge_plain(features: frozenset[str], mode: str, head: str = "") -> tuple[str, str] | None:
    if UNION in features:
        return "union_select", "critical"
    if TIME in features:
        return "time_based", "critical"
    if STACK in features or EXEC in features:
        return "stacked_query", "critical"
    if mode == "statement":
        if EXFIL in features and (COMMENT in features or FUNC in features):
            return "error_based", "high"
        return ("tautology", "high") if TAUT in features and head == "if" else None
    if TAUT in features and (BOOL in features or mode == "fragment") and HEAD_CMP not in features:
        return "tautology", "high"
    if EXFIL in features and (BOOL in features or CLOSE in features or COMMENT in features or ARITH in features or mode == "fragment"):
        return "error_based", "high"
    if CLAUSE in features and (COMMENT in features or CLOSE in features or mode == "fragment"):
        return "structure_probe", "high"
    if BOOL in features and (SUBQ in features or (PROBE in features and HEAD_CALL not in features)):
        return "boolean", "high"
    if SUBQ in features and mode == "expression" and HEAD_CALL not in features:
        return "boolean", "high"  # 1 RLIKE (SELECT ...)
    if BOOL in features and CMP in features and mode == "fragment":
        # " OR x=y" as a whole value; high once a comment cuts the rest of the query.
        return "boolean", "high" if COMMENT in features else "medium"
    if CLOSE in features and BOOL in features and (CMP in features or FUNC in features):
        return "boolean", "high"
    return None


def _detect(text: str) -> tuple[str, str, str] | None:
    for quote in ("'", '"'):
        index = text.find(quote)
        while index >= 0 and text[index + 1 : index + 2] == quote:
            # A doubled quote is an escaped quote inside the literal, not its end.
            index = text.find(quote, index + 2)
        if index < 0:
            continue
        after = _WORD_AT.match(text, index + 1)
        if after is not None and after.group(1).lower() not in _FRAGMENT_WORDS and after.group(1).lower() not in _STATEMENTS:
            continue  # O'Brien: a plain word right after the quote never continues SQL
        first = _first(text, index + 1)
        if first is None:
            continue
        if first[0] in _BREAKOUT_TOKENS or (first[0] in ("word", "call") and (first[1] in _FRAGMENT_WORDS or first[1] in _STATEMENTS)):
            analysis = analyse(text, index + 1, "quote")
            verdict = _judge_quote(analysis.features) if analysis.valid else None
            if verdict is not None:
                return verdict[0], verdict[1], quote + analysis.shape
            if first[0] != "word" or first[1] in _LOGIC:
                if _union_select(text[index + 1 :]):
                    return "union_select", "critical", quote + "UNION SELECT"
    words = _TWO_WORDS.match(text)
    if words is not None and not _SQL_WORDS.intersection((words.group(1).lower(), words.group(2).lower())):
        return None  # most text starts with two ordinary words ("Conan O'Brien")
    lexer = _Lexer(text, 0)
    first = lexer.peek()
    if first is None:
        return None
    kind, word = first
    if kind in ("word", "number", "string") and word not in _RESERVED and word not in _STATEMENTS:
        # Two operands in a row ("Room 101", "5 apples") are not SQL either.
        second = lexer.peek(1)
        if second is None or (second[0] in ("word", "number", "string", "qident") and second[1] not in _RESERVED and second[1] not in _LOGIC and second[1] not in _COMPARE and second[1] not in _ARITH):
            return None
    if kind in ("rp", "comma", "semi", "op") or (kind in ("word", "call") and word in _FRAGMENT_WORDS):
        mode = "fragment"
    elif kind in ("word", "call") and word in _STATEMENTS:
        mode = "statement"
    elif kind in ("number", "string", "word", "call", "lp", "var", "qident"):
        mode = "expression"
    else:
        return None
    analysis, head = _analyse_plain(text, mode)
    verdict = _judge_plain(analysis.features, mode, head) if analysis.valid else None
    if verdict is not None:
        return verdict[0], verdict[1], analysis.shape
    if mode == "fragment" and (kind in ("rp", "comma") or word in _LOGIC) and _union_select(text):
        return "union_select", "critical", "UNION SELECT"
    return None


def detect(view: str) -> tuple[str, str, str] | None:
    """``(pattern, severity, shape)`` when ``view`` (decoded) breaks out into SQL, else None."""
    if _GATE.search(view) is None:
        return None
    text = view if view.isascii() else view.translate(_QUOTE_TABLE)
    found = _detect(text)
    if found is None and "\\" in text:
        unescaped = js_unescape(text)
        if unescaped != text:
            found = _detect(unescaped)
    return found
