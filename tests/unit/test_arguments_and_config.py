"""Argument normalisation and the config builder: pure functions over values."""
from datetime import datetime
from pathlib import Path

import pytest

from config import SERVER_DIR, default_data_dir, load_config, parse_database_url
from domain.errors import InvalidInput
from validators.arguments import parse_due_date, parse_metadata, search_words


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-12-31", datetime(2026, 12, 31)),
        ("2026-12-31T17:30:00", datetime(2026, 12, 31, 17, 30)),
        ("2026-12-31T17:30:00Z", datetime(2026, 12, 31, 17, 30)),
        ("2026-12-31T19:30:00+02:00", datetime(2026, 12, 31, 17, 30)),
        ("", None),
        (None, None),
    ],
)
def test_due_dates_are_iso_8601_and_stored_as_utc(text, expected):
    assert parse_due_date(text) == expected


@pytest.mark.parametrize("text", ["tomorrow", "31.12.2026", "2026-13-01", "2026-02-30", "12/31/2026"])
def test_bad_due_dates_name_the_parameter_and_an_example(text):
    with pytest.raises(InvalidInput, match="due_date=.*ISO 8601"):
        parse_due_date(text)


def test_metadata_must_be_a_json_object_of_bounded_size():
    assert parse_metadata({"a": 1}) == {"a": 1}
    assert parse_metadata('{"a": 1}') == {"a": 1}
    for bad in ([1], "[1]", "x", 5):
        with pytest.raises(InvalidInput, match="metadata"):
            parse_metadata(bad)
    with pytest.raises(InvalidInput, match="bytes"):
        parse_metadata({"big": "x" * 70_000})


def test_search_words_are_bounded():
    assert search_words("  a  b ") == ["a", "b"]
    with pytest.raises(InvalidInput, match="empty"):
        search_words("   ")
    with pytest.raises(InvalidInput, match="at most 8"):
        search_words("a b c d e f g h i")


def test_no_database_settings_means_sqlite_in_the_user_data_directory(tmp_path):
    config = load_config({"HOME": str(tmp_path)})
    assert config.database.kind == "sqlite"
    assert config.database.sqlite_path == tmp_path / ".local" / "share" / "mcp-tasks" / "tasks.db"
    assert default_data_dir({"HOME": "/h"}, "darwin") == Path("/h/Library/Application Support/mcp-tasks")


def test_database_url_and_db_settings_choose_mariadb_and_hide_the_password():
    config = load_config({"DATABASE_URL": "mysql://app:p%40ss@db.example:3307/ki_protokoll"})
    s = config.database
    assert (s.kind, s.host, s.port, s.user, s.password, s.name) == ("mysql", "db.example", 3307, "app", "p@ss", "ki_protokoll")
    assert "p@ss" not in repr(config) and "p@ss" not in s.describe()
    split = load_config({"DB_HOST": "h", "DB_USER": "u", "DB_PASSWORD": "pw", "DB_NAME": "n"}).database
    assert (split.host, split.port, split.user, split.name) == ("h", 3306, "u", "n")


def test_database_url_may_name_several_nodes_tried_in_order():
    s = load_config({"DATABASE_URL": "mysql://app:p,w@g1:3307,g2,[::1]:3309/ki", "HOME": "/tmp"}).database
    assert (s.host, s.port, s.password, s.name) == ("g1", 3307, "p,w", "ki")
    assert s.nodes() == (("g1", 3307), ("g2", 3306), ("::1", 3309))
    assert "g1:3307,g2:3306,[::1]:3309" in s.describe() and "p,w" not in s.describe()
    one = parse_database_url("mysql://u@h:3307/db")
    assert one.hosts == () and one.nodes() == (("h", 3307),)
    with pytest.raises(InvalidInput, match="empty host"):
        parse_database_url("mysql://u@g1:3306,,g2:3306/db")
    with pytest.raises(InvalidInput, match="port"):
        parse_database_url("mysql://u@g1:3306,g2:x/db")


def test_relative_sqlite_paths_are_beside_the_server_not_the_working_directory():
    assert parse_database_url("sqlite://data/t.db").sqlite_path == SERVER_DIR / "data" / "t.db"
    assert parse_database_url("sqlite:///abs/t.db").sqlite_path == Path("/abs/t.db")
    assert parse_database_url("sqlite:////abs/t.db").sqlite_path == Path("/abs/t.db")


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"DATABASE_URL": "postgres://x/y"}, "scheme 'postgres'"),
        ({"DATABASE_URL": "mysql://u@h:3306/"}, "names no database"),
        ({"DATABASE_URL": "nonsense"}, "not a URL"),
        ({"OLLAMA_TIMEOUT": "soon"}, "OLLAMA_TIMEOUT"),
        ({"DB_HOST": "h", "DB_PORT": "-1"}, "DB_PORT"),
        ({"QUALITY_GATE": "maybe"}, "QUALITY_GATE"),
        ({"MCP_TASKS_ACTOR_TYPE": "robot"}, "MCP_TASKS_ACTOR_TYPE"),
    ],
)
def test_bad_settings_are_refused_by_name(env, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        load_config(env)


@pytest.mark.parametrize(
    "url, expected",
    [
        # An unencoded / in the password: urlsplit ended the userinfo there and took the rest for
        # host, port and database name, which then showed the password as the "database name".
        ("mysql://app:3306/Slash-Tail@db.example:3307/ki", ("db.example", 3307, "app", "3306/Slash-Tail", "ki")),
        ("mysql://app:pa/ss@db.example/ki", ("db.example", 3306, "app", "pa/ss", "ki")),
        ("mysql://app:p@ss/w@db.example:3307/ki?charset=utf8mb4", ("db.example", 3307, "app", "p@ss/w", "ki")),
        ("mariadb://app:x@[::1]:3307/ki", ("::1", 3307, "app", "x", "ki")),
        ("mysql://db.example/ki", ("db.example", 3306, "root", "", "ki")),
    ],
)
def test_a_password_with_unencoded_slash_or_at_is_split_at_the_last_at_sign(url, expected):
    s = load_config({"DATABASE_URL": url, "HOME": "/tmp"}).database
    assert (s.host, s.port, s.user, s.password, s.name) == expected
    assert expected[3] == "" or expected[3] not in s.describe()


def test_the_bounds_are_settings_with_defaults_and_checked():
    config = load_config({"DATABASE_URL": "mysql://u@h/db", "HOME": "/tmp"})
    assert (config.database.query_timeout, config.http_max_sessions_per_key, config.http_session_idle_timeout) == (30.0, 50, 1800.0)
    changed = load_config({"DB_QUERY_TIMEOUT": "2.5", "MCP_HTTP_MAX_SESSIONS_PER_KEY": "5", "HOME": "/tmp"})
    assert (changed.database.query_timeout, changed.http_max_sessions_per_key) == (2.5, 5)
    for env in ({"DB_QUERY_TIMEOUT": "0"}, {"MCP_HTTP_MAX_SESSIONS_PER_KEY": "0"}, {"MCP_HTTP_SESSION_IDLE_TIMEOUT": "x"}):
        with pytest.raises(InvalidInput, match=next(iter(env))):
            load_config({**env, "HOME": "/tmp"})


def test_shorten_is_bounded_before_it_is_built():
    """A huge value in a refusal costs what its first items cost: the message is cut, and
    so is the work (a repr of ten million items would take seconds and hundreds of MB)."""
    from domain.errors import shorten

    seen = []

    class Item:
        def __repr__(self) -> str:
            seen.append(1)
            return "item"

    text = shorten([Item() for _ in range(100_000)])
    assert len(seen) <= 4, f"shorten built the repr of {len(seen)} items"
    assert text.startswith("[item, item") and len(text) <= 80, text
    assert shorten("x" * 10_000_000) == repr("x" * 76)[:77] + "..."
    assert shorten("it's") == repr("it's") and shorten(42) == "42"
    assert shorten({"a": [1, [2, [3]]]}) == "{'a': [1, [...]]}"
