"""Fresh databases for one benchmark run: SQLite files, or databases on a PostgreSQL server
that are dropped again when the run ends."""
from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import make_url


class Databases:
    """Hands out a fresh database URI per label; ``drop_all`` removes the PostgreSQL ones."""

    def __init__(self, folder: Path, postgres: str | None, prefix: str) -> None:
        self.folder, self.postgres, self.prefix = folder, postgres, prefix
        self.created: list[tuple[str, str]] = []

    @property
    def engine(self) -> str:
        return "PostgreSQL" if self.postgres else "SQLite"

    def uri(self, label: str) -> str:
        if not self.postgres:
            return f"sqlite:///{self.folder / f'{self.prefix}-{label}.db'}"
        import psycopg

        url = make_url(self.postgres)
        name = f"{self.prefix}_{label}_{uuid.uuid4().hex[:6]}"
        admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append((admin, name))
        return url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        import psycopg

        for admin, name in self.created:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
