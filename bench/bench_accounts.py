"""Benchmark: resolver and «SMTP-аккаунты» list cost with 100,000 accounts vs 1,000.

Goal (issue «Admin SMTP accounts…»): each figure at 100,000 accounts is at most 2x the same
query at 1,000 accounts measured in the same run — the cost must not grow with the table.

    .venv/bin/python bench/bench_accounts.py [--large 100000] [--small 1000] [--postgres URL]

Prints the medians and p99 in milliseconds and the ratios large/small.
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet
from fresh_databases import Databases
from sqlalchemy import insert

from portal_smtp.extensions import db
from portal_smtp.models import SmtpAccount
from portal_smtp.portal import create_app
from portal_smtp.portal.models import Role, User
from portal_smtp.portal.schema import upgrade_database
from portal_smtp.services.resolver import resolve

LETTERS = 2000
PAGE_REPEATS = 60


def build_app(uri: str, folder: Path):
    app = create_app({
        "ENV": "testing", "SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "bench",
        "SMTP_KEYS": Fernet.generate_key().decode(), "WTF_CSRF_ENABLED": False,
        "INSTANCE_PATH": str(folder), "RATELIMIT_ENABLED": False,
    })
    with app.app_context():
        upgrade_database()
    return app


def fill(app, count: int) -> list[str]:
    """Insert ``count`` accounts in bulk; return From headers of some active ones."""
    rng = random.Random(count)
    headers = []
    with app.app_context():
        rows = []
        for n in range(count):
            email = f"sender{n}@domain{n % 997}.example"
            name = f"Отправитель {n % 50}"
            rows.append({
                "active": n % 10 != 0, "sender_name": name, "email": email,
                "email_normalized": email, "host": f"smtp{n % 20}.example.com", "port": 465,
                "security": "ssl", "auth": "login", "login": email, "password": "bench-password",
                "verify_tls": True, "mailing_first": n % 7 == 0,
            })
            if n % 10 != 0 and rng.random() < 0.05:
                headers.append(f"{name} <{email}>")
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(SmtpAccount).execution_options(render_nulls=True),
                               [_raw(r) for r in rows[start:start + 5000]])
        admin = User(username="admin", full_name="Admin", email="admin@example.com",
                     role=Role.ADMIN.value)
        admin.set_password("bench-admin")
        db.session.add(admin)
        db.session.commit()
        _analyze()
    return headers


def _analyze() -> None:
    """Refresh planner statistics after the bulk load, as autovacuum would in production."""
    from sqlalchemy import text

    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE portal_smtp_account"))
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def _raw(row: dict) -> dict:
    from portal_smtp.timeutil import utcnow

    now = utcnow()
    return row | {"created_at": now, "updated_at": now}


def time_resolver(app, headers: list[str]) -> list[float]:
    rng = random.Random(7)
    picks = [rng.choice(headers) for _ in range(LETTERS)]
    samples = []
    with app.app_context():
        for header in picks[:50]:  # warm-up
            resolve(header)
        for n, header in enumerate(picks):
            started = time.perf_counter()
            account = resolve(header, mailing=n % 3 == 0)
            samples.append(time.perf_counter() - started)
            assert account is not None
            db.session.expunge_all()
    return samples


def time_page(app, url: str) -> list[float]:
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": "bench-admin"})
    for _ in range(5):
        assert client.get(url).status_code == 200
    samples = []
    for _ in range(PAGE_REPEATS):
        started = time.perf_counter()
        response = client.get(url, headers={"HX-Request": "true"})
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200
    return samples


def p99(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.99) - 1]


def measure(uri_for, count: int, folder: Path) -> dict[str, list[float]]:
    uri = uri_for(count)
    app = build_app(uri, folder / str(count))
    headers = fill(app, count)
    results = {
        "resolver": time_resolver(app, headers),
        "list page 1 (active=Y)": time_page(app, "/admin/smtp/accounts?active=Y&page=1"),
        "list page 500 (active=Y)": time_page(app, "/admin/smtp/accounts?active=Y&page=500"),
        "list page 500 (server=smtp3…)": time_page(
            app, "/admin/smtp/accounts?server=smtp3.example.com&page=500&size=10"),
    }
    with app.app_context():
        db.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--postgres", help="run on a fresh database of this PostgreSQL server")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-accounts-"))
    databases = Databases(folder, args.postgres, "bench_accounts")
    try:
        small = measure(lambda count: databases.uri(str(count)), args.small, folder)
        large = measure(lambda count: databases.uri(str(count)), args.large, folder)
    finally:
        databases.drop_all()
    engine = databases.engine
    print(f"\n{engine}: {args.large:,} accounts vs {args.small:,} (same run); goal ratio ≤ 2.0")
    print(f"{'measure':34} {'small med':>10} {'large med':>10} {'ratio':>6} "
          f"{'small p99':>10} {'large p99':>10} {'ratio':>6}")
    worst = 0.0
    for key in small:
        s_med, l_med = statistics.median(small[key]) * 1e3, statistics.median(large[key]) * 1e3
        s_p99, l_p99 = p99(small[key]) * 1e3, p99(large[key]) * 1e3
        worst = max(worst, l_med / s_med)
        print(f"{key:34} {s_med:9.3f}ms {l_med:9.3f}ms {l_med / s_med:6.2f} "
              f"{s_p99:9.3f}ms {l_p99:9.3f}ms {l_p99 / s_p99:6.2f}")
    print(f"worst median ratio: {worst:.2f} ({'meets' if worst <= 2 else 'MISSES'} the goal)")


if __name__ == "__main__":
    main()
