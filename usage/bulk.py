"""One multi-row INSERT for a thousand rows, on PostgreSQL and SQLite.

PostgreSQL gets one array per column through `unnest`: a statement with 19 parameters instead of
19 000, which psycopg binds and the server parses in a fraction of the time (binding a huge
VALUES list was the largest cost of an ingest batch). SQLite gets VALUES lists sized to its
parameter limit.
"""

from __future__ import annotations

import contextlib

import psycopg
from django.db import connection, models


def _column_types(model: type[models.Model], columns: tuple[str, ...]) -> list[str]:
    by_column = {field.column: field for field in model._meta.concrete_fields}
    types = [by_column[name].db_type(connection) for name in columns]
    return [db_type for db_type in types if db_type is not None]


def insert_rows(
    *,
    model: type[models.Model],
    columns: tuple[str, ...],
    rows: list[tuple],
    suffix: str = "",
    returning: bool = False,
) -> list[tuple]:
    """INSERT `rows` (tuples in `columns` order) followed by `suffix` (ON CONFLICT …, RETURNING …).

    Returns the returned rows when `returning`. Values must already be adapted for the database.
    Only quoted identifiers from model metadata are put into the SQL; values are parameters.
    """
    if not rows:
        return []
    qn = connection.ops.quote_name
    head = f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(name) for name in columns)}) "
    returned: list[tuple] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = [list(values) for values in zip(*rows, strict=True)]
            casts = ", ".join(f"%b::{db_type}[]" for db_type in _column_types(model, columns))
            sql = f"{head}SELECT * FROM unnest({casts}) {suffix}"  # noqa: S608
            # Django's cursors bind on the client, which renders every array as quoted text in
            # Python; a plain psycopg cursor sends them as binary parameters. Same connection,
            # so the same transaction.
            with psycopg.Cursor(cursor.connection) as raw:
                raw.execute(sql, arrays)
                if returning:
                    returned.extend(raw.fetchall())
            return returned
        row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
        per_statement = max(1, (connection.features.max_query_params or 999) // len(columns))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = [value for row in chunk for value in row]
            cursor.execute(f"{head}VALUES {', '.join([row_sql] * len(chunk))} {suffix}", params)
            if returning:
                returned.extend(cursor.fetchall())
    return returned


@contextlib.contextmanager
def pipelined():
    """On PostgreSQL, send the statements inside without waiting for each answer (one round
    trip for the lot; errors surface by the end of the block). Elsewhere a no-op."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.connection.pipeline():
        yield
