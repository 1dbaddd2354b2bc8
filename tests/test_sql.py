"""SQL normalisation: literal-free text and fingerprints for a table of SQL forms."""

from __future__ import annotations

import pytest

from otel_kit.redaction.sql import fingerprint, fingerprint_id, operation_and_target, sanitize_sql

FINGERPRINTS = [
    ("SELECT * FROM users WHERE id = 1", "select * from users where id = ?"),
    ("select *  from users\n where id=42", "select * from users where id=?"),
    ("SELECT * FROM users WHERE name = 'O''Brien'", "select * from users where name = ?"),
    ("SELECT * FROM t WHERE id IN (1, 2, 3)", "select * from t where id in (?...)"),
    ("SELECT * FROM t WHERE id IN (1,2,3,4,5,6,7,8,9)", "select * from t where id in (?...)"),
    ("SELECT * FROM t WHERE id IN (%(a)s, %(b)s)", "select * from t where id in (?...)"),
    ("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')", "insert into t (a, b) values (?...)"),
    ("INSERT INTO t (a, b) VALUES (%(a)s, %(b)s)", "insert into t (a, b) values (?...)"),
    ("SELECT lower(?) FROM t WHERE f(?) = 1", "select lower(?) from t where f(?) = ?"),
    ("SELECT * FROM t WHERE a = :a AND b = $1 AND c = ?", "select * from t where a = ? and b = ? and c = ?"),
    ("SELECT * FROM t WHERE f = TRUE AND g IS NULL", "select * from t where f = ? and g is ?"),
    ("SELECT 1.5e3, -7, 0x1F FROM t", "select ?, ?, ? from t"),
    ("SELECT col1, t2.col2 FROM t1 JOIN t2 ON t1.id = t2.id", "select col1, t2.col2 from t1 join t2 on t1.id = t2.id"),
    ("SELECT * FROM t -- trailing comment", "select * from t"),
    ("SELECT /* hint */ * FROM t;", "select * from t"),
    ('SELECT "Weird Col" FROM "T"', 'select "Weird Col" from "T"'),
    ("UPDATE t SET a = 'it''s -- not a comment' WHERE id = 9", "update t set a = ? where id = ?"),
    ("SELECT $$dollar 'quoted'$$", "select ?"),
]


@pytest.mark.parametrize(("statement", "expected"), FINGERPRINTS)
def test_fingerprint(statement: str, expected: str) -> None:
    """The same query with other values maps to one fingerprint."""
    assert fingerprint(statement) == expected


def test_same_shape_same_id() -> None:
    """Different literals and IN-list lengths give the same fingerprint id."""
    a = fingerprint_id(fingerprint("SELECT * FROM t WHERE id IN (1, 2) AND x = 'a'"))
    b = fingerprint_id(fingerprint("select * from t where id in (7,8,9,10) and x = 'bbb'"))
    assert a == b and len(a) == 12


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT * FROM users WHERE password = 'hunter2' AND pin = 1234", "SELECT * FROM users WHERE password = ? AND pin = ?"),
        ("SELECT * FROM t WHERE id = :id", "SELECT * FROM t WHERE id = :id"),
        ("SELECT col2 FROM t2", "SELECT col2 FROM t2"),
    ],
)
def test_sanitize_removes_literals_only(statement: str, expected: str) -> None:
    """sanitize_sql removes literals but keeps identifiers and bind placeholders."""
    assert sanitize_sql(statement) == expected


@pytest.mark.parametrize(
    ("statement", "operation", "target"),
    [
        ("SELECT a FROM users WHERE x", "SELECT", "users"),
        ("insert into orders (a) values (1)", "INSERT", "orders"),
        ("UPDATE accounts SET a = 1", "UPDATE", "accounts"),
        ("DELETE FROM sessions", "DELETE", "sessions"),
        ("SELECT 1", "SELECT", None),
    ],
)
def test_operation_and_target(statement: str, operation: str, target: str | None) -> None:
    """db.operation.name and db.collection.name come from the statement."""
    assert operation_and_target(statement) == (operation, target)


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT * FROM t WHERE id = %(id)s::UUID", "select * from t where id = ?::uuid"),
        ("SELECT $1::int[], $2", "select ?::int[], ?"),
        ("SELECT 'a'::text, now()::timestamptz", "select ?::text, now()::timestamptz"),
        ("find {'status': 'A', 'qty': {'$lt': 30}}", "find {status: ?, qty: {$lt: ?}}"),
        ("find orders {'_id': ObjectId('5f1e'), 'tags': {'$in': ['a', 'b', 'c']}}", "find orders {_id: ?, tags: {$in: [?...]}}"),
        ("aggregate [{'$match': {'ok': True}}, {'$limit': 5}]", "aggregate [{$match: {ok: ?}}, {$limit: ?}]"),
    ],
)
def test_casts_dollar_placeholders_and_mongo_shapes(statement: str, expected: str) -> None:
    """PostgreSQL casts stay (not '?:?'), $n is a placeholder, a MongoDB command becomes its shape."""
    assert fingerprint(statement) == expected


def test_mongo_command_is_exported_without_values() -> None:
    """sanitize_sql on a MongoDB command keeps keys and operators and drops every value, quoted either way."""
    assert sanitize_sql("insert [{'email': \"a@b.example\", 'age': 41}]") == "insert [{email: ?, age: ?}]"
