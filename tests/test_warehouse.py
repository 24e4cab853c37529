"""The warehouse interface on both dialects: DDL, plain SQL, transactions, bulk upsert."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pytest

from databox.config import resolve_path
from databox.errors import ConfigError, WarehouseUnavailable
from databox.warehouse import Column, Table, connect

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
ITEMS = Table(
    "raw.items",
    (
        Column("k", "text", not_null=True),
        Column("n", "bigint", not_null=True),
        Column("label", "text"),
        Column("doc", "json"),
        Column("flag", "boolean"),
        Column("at", "timestamptz"),
        Column("loaded_at", "timestamptz"),
    ),
    primary_key=("k", "n"),
)
COLS = ITEMS.column_names
KEY = ["k", "n"]
COMPARE = ["label", "doc", "flag", "at"]  # loaded_at changes every run: not a difference


def _all(wh) -> list[dict]:
    # "at" is a keyword in DuckDB: generated SQL quotes identifiers, hand-written SQL must too.
    return wh.query('SELECT k, n, label, flag, "at", loaded_at FROM raw.items ORDER BY k, n')


def test_connect_picks_the_adapter_from_the_url(tmp_path):
    wh = connect(f"duckdb:///{tmp_path / 'w.duckdb'}")
    assert wh.dialect == "duckdb"
    assert wh.path == tmp_path / "w.duckdb"  # duckdb:////abs/path → /abs/path
    # relative: against the project root, like Settings does
    assert connect("duckdb:///data/w.duckdb").path == resolve_path("data/w.duckdb")
    assert connect("postgresql://u@h:5432/db").dialect == "postgresql"
    assert connect("postgresql+psycopg://u@h/db").dialect == "postgresql"
    with pytest.raises(ConfigError, match="unsupported scheme"):
        connect("mysql://u:pw@h/db")


def test_urls_never_show_the_password():
    wh = connect("postgresql://user:s3cret@db.example:5432/prod")
    assert "s3cret" not in wh.url and "s3cret" not in repr(wh)
    with pytest.raises(ConfigError) as exc:
        connect("mysql://user:s3cret@h/db")
    assert "s3cret" not in str(exc.value)


def test_importing_the_package_does_not_import_the_drivers():
    code = "import sys, databox.warehouse; print('duckdb' in sys.modules, 'psycopg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_ensure_tables_is_idempotent_with_dialect_types(warehouse_url):
    wh = connect(warehouse_url)
    wh.ensure_tables(ITEMS)
    wh.ensure_tables(ITEMS)  # again: no error, nothing changes
    with wh.session() as s:
        assert s.table_exists("raw.items")
        assert not s.table_exists("raw.nope")
        types = dict(
            s.fetchall(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'raw' AND table_name = 'items'"
            )
        )
    assert set(types) == set(COLS)
    if wh.dialect == "postgresql":
        assert types["doc"] == "jsonb"
        assert types["at"] == "timestamp with time zone"
    else:
        assert types["doc"] == "JSON"
        assert types["at"] == "TIMESTAMP WITH TIME ZONE"


def test_bulk_upsert_counts_inserts_updates_and_leaves_identical_rows_alone(warehouse_url):
    wh = connect(warehouse_url)
    wh.ensure_tables(ITEMS)
    first = [
        ("a", 1, "one", '{"x": 1}', True, T0, T0),
        ("a", 2, "two", b"[1, 2]", False, T0, T0),  # JSON as bytes works too
        ("b", 1, None, None, None, None, T0),
    ]
    with wh.transaction() as tx:
        assert tx.bulk_upsert("raw.items", COLS, first, KEY, compare_columns=COMPARE) == (3, 0)

    later = T0 + timedelta(days=1)
    second = [
        ("a", 1, "one", '{"x": 1}', True, T0, later),  # identical but for loaded_at
        ("a", 2, "TWO", "[1, 2]", False, T0, later),  # edited
        ("c", 9, "new", "{}", True, later, later),  # new
    ]
    with wh.transaction() as tx:
        assert tx.bulk_upsert("raw.items", COLS, iter(second), KEY, compare_columns=COMPARE) == (
            1,
            1,
        )

    rows = {(r["k"], r["n"]): r for r in _all(wh)}
    assert len(rows) == 4
    assert rows[("a", 1)]["loaded_at"] == T0  # not rewritten
    assert rows[("a", 2)]["label"] == "TWO" and rows[("a", 2)]["loaded_at"] == later
    assert rows[("c", 9)]["at"] == later


def test_bulk_upsert_assume_new_is_only_a_hint(warehouse_url):
    """A wrong ``assume_new`` (keys that exist) still upserts correctly."""
    wh = connect(warehouse_url)
    wh.ensure_tables(ITEMS)
    with wh.transaction() as tx:
        tx.bulk_upsert("raw.items", COLS, [("a", 1, "x", None, None, None, T0)], KEY)
    rows = [("a", 1, "y", None, None, None, T0), ("a", 2, "z", None, None, None, T0)]
    with wh.transaction() as tx:
        assert tx.bulk_upsert("raw.items", COLS, rows, KEY, assume_new=True) == (1, 1)
    assert [r["label"] for r in _all(wh)] == ["y", "z"]


def test_bulk_upsert_takes_arrow_and_an_update_condition(warehouse_url):
    import pyarrow as pa

    wh = connect(warehouse_url)
    wh.ensure_tables(ITEMS)
    table = pa.table(
        {
            "k": ["a", "a"],
            "n": pa.array([1, 2], pa.int64()),
            "label": ["old", "old"],
            "at": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
        }
    )
    cols = ["k", "n", "label", "at"]
    with wh.transaction() as tx:
        assert tx.bulk_upsert("raw.items", cols, table, KEY) == (2, 0)
    # Only rows whose incoming "at" is newer may replace the stored one.
    newer = pa.table(
        {
            "k": ["a", "a"],
            "n": pa.array([1, 2], pa.int64()),
            "label": ["stale", "fresh"],
            "at": pa.array(
                [T0 - timedelta(hours=1), T0 + timedelta(hours=1)], pa.timestamp("us", tz="UTC")
            ),
        }
    )
    with wh.transaction() as tx:
        ins, upd = tx.bulk_upsert(
            "raw.items", cols, newer, KEY, update_where='excluded."at" > t."at"'
        )
    assert (ins, upd) == (0, 1)
    assert [r["label"] for r in _all(wh)] == ["old", "fresh"]


def test_bulk_upsert_rejects_duplicate_keys(warehouse_url):
    wh = connect(warehouse_url)
    wh.ensure_tables(ITEMS)
    rows = [("a", 1, "x", None, None, None, T0), ("a", 1, "y", None, None, None, T0)]
    with pytest.raises(ValueError, match="duplicate keys"), wh.transaction() as tx:
        tx.bulk_upsert("raw.items", COLS, rows, KEY)
    assert _all(wh) == []


def test_transaction_rolls_back_on_error_and_params_use_percent_s(warehouse_url):
    wh = connect(warehouse_url)
    wh.ensure_tables(ITEMS)
    with pytest.raises(RuntimeError), wh.transaction() as tx:
        tx.execute("INSERT INTO raw.items (k, n, label) VALUES (%s, %s, %s)", ("a", 1, "100%"))
        raise RuntimeError("boom")
    assert _all(wh) == []
    with wh.transaction() as tx:
        tx.execute("INSERT INTO raw.items (k, n, label) VALUES (%s, %s, %s)", ("a", 1, "100%"))
        assert tx.fetchone("SELECT label FROM raw.items WHERE label = %s", ("100%",)) == ("100%",)
        assert tx.fetchone(
            "SELECT count(*) FROM raw.items WHERE label LIKE '100%%' AND n = %s", (1,)
        ) == (1,)
    assert wh.query("SELECT k, n FROM raw.items") == [{"k": "a", "n": 1}]


def test_duckdb_creates_the_parent_dir_and_frees_the_file_after_a_session(tmp_path):
    db = tmp_path / "deep" / "dir" / "w.duckdb"
    wh = connect(f"duckdb:///{db}")
    wh.ensure_tables(ITEMS)
    assert db.exists()
    # Another process can open the file now: the session closed its connection.
    code = f"import duckdb; print(duckdb.connect({str(db)!r}).execute('select count(*) from raw.items').fetchone()[0])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_duckdb_second_process_waits_for_the_lock_instead_of_failing(tmp_path):
    db = tmp_path / "w.duckdb"
    wh = connect(f"duckdb:///{db}")
    wh.ensure_tables(ITEMS)
    code = textwrap.dedent(
        f"""
        import sys
        from databox.warehouse import connect
        from databox.filelock import LockTimeout
        wh = connect({f"duckdb:///{db}"!r}, lock_timeout=float(sys.argv[1]))
        try:
            with wh.transaction() as tx:
                tx.execute("INSERT INTO raw.items (k, n) VALUES ('from-child', 1)")
        except LockTimeout:
            print("timeout")
        else:
            print("written")
        """
    )
    with wh.session():  # hold the database
        out = subprocess.run([sys.executable, "-c", code, "0.5"], capture_output=True, text=True)
        assert out.stdout.strip() == "timeout", out.stderr
        waiting = subprocess.Popen(
            [sys.executable, "-c", code, "60"], stdout=subprocess.PIPE, text=True
        )
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=1.0)  # blocked on the lock, not failed
    assert waiting.communicate(timeout=60)[0].strip() == "written"
    assert [r["k"] for r in _all(wh)] == ["from-child"]


# -- opening errors: ours, located, never a driver traceback -----------------------------


def test_duckdb_opening_errors_name_the_url_and_the_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "notes.duckdb").write_text("not a database")
    under_a_file = connect(f"duckdb:///{tmp_path}/afile/w.duckdb")
    with pytest.raises(ConfigError, match=rf"{tmp_path}/afile is a file, not a directory"):
        under_a_file.ensure_tables(ITEMS)
    not_duckdb = connect(f"duckdb:///{tmp_path}/notes.duckdb")
    assert "is not a DuckDB database" in not_duckdb.open_problem()
    with pytest.raises(
        ConfigError, match=r"DATABASE_URL=duckdb:///.*notes.duckdb exists but is not"
    ):
        not_duckdb.ensure_tables(ITEMS)
    for url in ("duckdb:///:memory:", "duckdb:///"):
        with pytest.raises(ConfigError, match="DATABASE_URL"):
            connect(url)


def test_duckdb_read_only_sessions_never_create_the_file(tmp_path):
    db = tmp_path / "new" / "w.duckdb"
    reader = connect(f"duckdb:///{db}", read_only=True)
    assert "does not exist" in reader.open_problem(create=False)
    with pytest.raises(ConfigError, match="does not exist"), reader.session():
        pass
    assert not db.parent.exists()
    connect(f"duckdb:///{db}").ensure_tables(ITEMS)
    with reader.session() as s:
        assert s.table_exists("raw.items")


def test_postgres_unreachable_names_the_server_never_the_password():
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    wh = connect(f"postgresql://alice:s3cret@127.0.0.1:{port}/shop")
    with pytest.raises(WarehouseUnavailable) as exc, wh.session():
        pass
    message = str(exc.value)
    assert f"host 127.0.0.1, port {port}, database 'shop', user 'alice'" in message
    assert "Connection refused" in message and "Start it" in message
    assert "s3cret" not in message
    assert wh.open_problem(timeout=2) == message
