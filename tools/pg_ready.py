"""Exit 0 when a PostgreSQL server answers a trust login at the given SQLAlchemy URL."""

from __future__ import annotations

import sys

import psycopg
from sqlalchemy.engine import make_url


def main() -> int:
    url = make_url(sys.argv[1])
    try:
        with psycopg.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
            dbname=url.database or "postgres",
            connect_timeout=3,
        ) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        print(f"PostgreSQL not ready: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
