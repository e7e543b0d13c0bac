"""Create or drop a PostgreSQL database for one test run: ``testdb.py create|drop BASE NAME``.

Exits 1 (quietly) when the server cannot be reached, so the caller can decide what that means.
"""

from __future__ import annotations

import sys

import sqlalchemy as sa


def main(action: str, base: str, name: str) -> int:
    """Create or drop database ``name`` on the server at ``base``."""
    engine = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if action == "create":
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            else:
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :n AND pid <> pg_backend_pid()"
                    ),
                    {"n": name},
                )
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    except sa.exc.OperationalError as exc:
        print(f"testdb: {exc.orig}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
