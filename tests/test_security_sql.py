"""SQL injection detector: SQL grammar after a breakout, not keyword lists."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_kit.signals.security.decoding import decode
from otel_kit.signals.security.sql import MAX_TOKENS, analyse, detect


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        # string context, tautologies in several spellings
        ("nobody' OR 'x'='x", "tautology"),
        ("nobody\" or \"7\"=\"7", "tautology"),
        ("z' or 5=5 -- ", "tautology"),
        ("z')) or ((2>1", "tautology"),
        ("q' || 'k'='k", "tautology"),
        ("q' or true#", "tautology"),
        ("q' or '9", "tautology"),  # MySQL reads '9...' as a true number
        ("q' or name like '%", "tautology"),
        ("q' or col=col/*", "tautology"),
        # numeric and fragment contexts
        ("77 or 3=3", "tautology"),
        ("-5 OR 812=812", "tautology"),
        ("4) and elt(31=31,9)", "tautology"),
        (" OR 6=6 --", "tautology"),
        (") or (4=4", "tautology"),
        # unions and stacked statements
        ("' union select null,null,null--", "union_select"),
        ("9 UNION ALL SELECT table_name,2 FROM information_schema.tables", "union_select"),
        ("'/**/UNION/**/SELECT/**/1,2#", "union_select"),
        ("'; drop table accounts; --", "stacked_query"),
        ("1; update accounts set role='admin'", "stacked_query"),
        ("'; exec master..xp_cmdshell 'dir'--", "stacked_query"),
        ("x'; declare @v varchar(99) set @v='a'--", "stacked_query"),
        ("';shutdown--", "stacked_query"),
        # time-based blind forms per engine
        ("' or sleep(7)#", "time_based"),  # MySQL
        ("1 and benchmark(900000,sha1(1))", "time_based"),  # MySQL
        ("'||pg_sleep(4)--", "time_based"),  # PostgreSQL
        ("1; waitfor delay '0:0:6'--", "time_based"),  # SQL Server
        ("' and 1=dbms_pipe.receive_message('a',6)--", "time_based"),  # Oracle
        ("' and 1=randomblob(800000000)--", "time_based"),  # SQLite
        # error-based and probes
        ("' and extractvalue(1,concat(0x7e,version()))--", "error_based"),
        ("' and 1=utl_inaddr.get_host_address('x')--", "error_based"),
        ("z' ORDER BY 12#", "structure_probe"),
        ("3 group by 1,2,3--", "structure_probe"),
        ("q' and ascii(substring(user(),1,1))>64--", "boolean"),
        ("1 RLIKE (SELECT (CASE WHEN (4=4) THEN 1 ELSE 0x28 END))", "boolean"),
        ("5;SELECT CASE WHEN (2=2) THEN pg_sleep(3) ELSE pg_sleep(0) END--", "time_based"),
        ("x' insert into audit(who) values('me')--", "stacked_query"),
        ("admin'--", "comment_terminator"),  # medium: passwords contain '"#-- too
        ("admin' #", "comment_terminator"),
        # encodings the decoder must undo first
        ("%27%20OR%20%27a%27%3D%27a", "tautology"),
        ("%2527%2520union%2520select%25201%252C2--", "union_select"),
        ("\uff07 or 1=1--", "tautology"),
        ("&#39; or 1=1--", "tautology"),
    ],
)
def test_injections_detected(value: str, pattern: str) -> None:
    """Each rule fires on its attack shape, after decoding."""
    found = detect(decode(value))
    assert found is not None, value
    assert found[0] == pattern, (value, found)
    assert found[1] == ("medium" if pattern == "comment_terminator" else "high" if pattern in ("tautology", "error_based", "structure_probe", "boolean") else "critical")


@pytest.mark.parametrize(
    "value",
    [
        # names and prose with apostrophes and quotes
        "O'Brien", "Conan O'Brien or Jay Leno", "D'Angelo Russell", "rock 'n' roll", "don't stop; or do", "it's 5' 11\" tall",
        "He said 'hello' or 'goodbye'", "Pick \"A\" or \"B\"", "the 80's -- great times",
        # SQL questions and SQL words in ordinary text
        "Performing UNION select getting which table", "GROUP BY on multiple columns", "How to ORDER BY date and then name?",
        "select a plan", "union station chicago", "Order by phone or email", "Why does 'SELECT *' return nothing?",
        "\"=\" not matching in MySQL but LIKE does", "Drop table tennis club", "sleep(8 hours)", "time.sleep(5)",
        "Use (a or b) and c", "1 or 2 people", "1 < 2 and 3 > 2", "x = 1 and y = 2", "SELECT * FROM songs",
        "DECLARE @traceparent varbinary(55); SET @traceparent = CAST('00-ab' AS varbinary(55))",
        # hashes, comments and punctuation
        "#1 priority", "\"#1\" priority", "issue #42 -- urgent", "a--b", "C# and F#", "100% (guaranteed)", "2+2=4",
        "Mozilla/5.0 (X11; Linux x86_64)", "{\"a\": 1}", "x' y", "'", "''", "--",
        # quoted words that are also statements, and code comparing with quoted characters
        "He said \"Execute the plan\"", "Click \"Insert into document\" first", "Press \"Delete from the list\"", "The \"select\" button",
        "\"Drop table tennis\" club", "Use \"<\" and \">\" for ranges", "if s == '<': pass", "return (not done) or len(items)",
    ],
)
def test_prose_and_questions_are_not_attacks(value: str) -> None:
    """Names, English, SQL questions, code and markdown do not form SQL after a breakout."""
    assert detect(decode(value)) is None, (value, detect(decode(value)))


def test_shape_has_token_classes_not_user_text() -> None:
    """The shape keeps keywords and operators, and replaces literals and identifiers by classes."""
    found = detect("zq' OR 'secretword'='secretword' --")
    assert found is not None
    shape = found[2]
    assert "OR" in shape and "S = S" in shape
    assert "secretword" not in shape and "zq" not in shape


def test_quote_mode_requires_sql_after_the_quote() -> None:
    """An identifier right after the quote (O'Brien) is not valid SQL."""
    assert not analyse("Brien'", 0, "quote").valid
    assert analyse(" or 1=1", 0, "quote").valid


def test_token_budget_bounds_the_work() -> None:
    """Beyond MAX_TOKENS the state machine stops and reports nothing (unless already decided)."""
    assert detect("' or " + "1+" * MAX_TOKENS + "1") is None
    assert detect("' union select " + "1," * MAX_TOKENS + "1") is not None


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=400))
def test_never_raises_on_text(value: str) -> None:
    """Arbitrary text never raises."""
    detect(value)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["'", '"', " ", "or", "and", "1", "=", "(", ")", "--", "#", "/*", "*/", ";", "select", "union", "sleep", ",", "`", "x", "@@v", "0x1f", "\n", "exec", "if"]), max_size=60))
def test_never_raises_on_sql_soup(parts: list[str]) -> None:
    """Token soup built from SQL pieces never raises."""
    detect("".join(parts))
