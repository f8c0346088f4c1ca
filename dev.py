#!/usr/bin/env python3
"""The two commands of the README, using only the standard library to bootstrap.

    python3 dev.py run    set everything up and run the portal on http://127.0.0.1:5000
    python3 dev.py test   set everything up and run the whole test suite

Both create ``.venv`` and install the project into it (again only when setup.cfg changed).
``run`` uses SQLite in ``instance/``, demo data, the development mail catcher and a worker;
Ctrl+C or `kill` stops them all.
``test`` installs Debian's chromium and Dovecot when missing (without recommends), then runs
ruff, the suite on SQLite and on PostgreSQL, and a check of the built wheel in a fresh
virtual environment.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
PYTHON = BIN / "python"
CHROMIUM = "/usr/bin/chromium"
DEFAULT_PG = "postgresql+psycopg://root@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def sh(*args: str | Path, env: dict | None = None, cwd: Path = ROOT) -> int:
    return subprocess.call([str(a) for a in args], env=env, cwd=cwd)


def must(*args: str | Path, env: dict | None = None, cwd: Path = ROOT) -> None:
    code = sh(*args, env=env, cwd=cwd)
    if code != 0:
        sys.exit(f"failed ({code}): {' '.join(map(str, args))}")


def ensure_venv(extras: str) -> None:
    """Create .venv and install the project with ``extras`` when anything changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 is
        sys.exit("Python 3.11 or newer is required")
    if not PYTHON.exists():
        say("Creating .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256()
    for name in ("setup.cfg", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    digest.update(extras.encode())
    stamp = VENV / f".setup-stamp-{extras.replace(',', '-')}"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return
    say(f"Installing portal_smtp[{extras}] into .venv")
    must(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    must(PYTHON, "-m", "pip", "install", "--quiet", "-e", f".[{extras}]")
    stamp.write_text(digest.hexdigest())


def portal_env(**extra: str) -> dict:
    env = dict(os.environ)
    env.setdefault("PORTAL_ENV", "development")
    env["FLASK_APP"] = "wsgi"
    env.update(extra)
    return env


#: Signals that end ``run``: Ctrl+C, `kill` and a closed terminal. The children get Ctrl+C
#: as SIGINT, the others as SIGTERM.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Seconds the children get to stop by themselves before they are killed.
STOP_GRACE_SECONDS = 5.0


class Stopped(Exception):
    """``run`` was asked to stop by the signal ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def raise_stopped(signum: int, frame: object) -> None:
    """The handler of :data:`STOP_SIGNALS` while ``run`` runs."""
    raise Stopped(signum)


def catch_stop_signals() -> None:
    """Turn :data:`STOP_SIGNALS` into :class:`Stopped`, before any child starts.

    A script started in the background (`python3 dev.py run &`) inherits SIGINT *ignored*,
    and so would every child it starts: they would sit out a forwarded SIGINT until killed.
    A caught signal, unlike an ignored one, is reset to the default in a child.
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, raise_stopped)


def spawn(*args: str | Path, env: dict) -> subprocess.Popen:
    """Start a child in its own process group: Ctrl+C reaches only this script, which passes
    it on once (a child signalled twice prints a traceback while it stops)."""
    return subprocess.Popen([str(a) for a in args], env=env, cwd=ROOT, process_group=0)


def stop_children(children: list[subprocess.Popen], signum: int = signal.SIGTERM,
                  grace: float = STOP_GRACE_SECONDS) -> None:
    """Send ``signum`` to every child still running, give them ``grace`` seconds in all,
    then kill the ones left; returns when every child has exited."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signum)
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def supervise(services: list[list[str | Path]], main: list[str | Path], env: dict,
              announce: str = "") -> int:
    """Start ``services``, then ``main``, and wait for ``main``; when it exits or a stop
    signal arrives, stop every child (passing Ctrl+C on as SIGINT, anything else as SIGTERM).

    :param services: commands that run beside ``main`` (the mail catcher, a worker).
    :param main: the command whose exit ends the run (the web server).
    :param announce: a line printed just before ``main`` starts.
    :returns: ``main``'s exit code, or 0 when a signal stopped the run.
    """
    catch_stop_signals()
    children: list[subprocess.Popen] = []
    stop_with = signal.SIGTERM
    try:
        for command in services:
            children.append(spawn(*command, env=env))
        time.sleep(1)  # a head start: the catcher binds its port before the portal starts
        if announce:
            say(announce)
        children.append(spawn(*main, env=env))
        return children[-1].wait()
    except Stopped as stopped:
        stop_with = signal.SIGINT if stopped.signum == signal.SIGINT else signal.SIGTERM
        return 0
    finally:
        for signum in STOP_SIGNALS:  # a second Ctrl+C must not cut the stop short
            signal.signal(signum, signal.SIG_IGN)
        stop_children(children, stop_with)


def run() -> int:
    """Set up and run the portal with the development mail catcher beside it."""
    ensure_venv("dev,postgres")
    catch_stop_signals()
    env = portal_env()
    flask = BIN / "flask"
    try:
        say("Preparing the database (SQLite in instance/) with demo data")
        must(flask, "portal", "init-db", env=env)  # the module's tables, then the portal's
        # It prints the demo users with their passwords only when it creates them.
        must(flask, "portal", "demo", env=env)
    except Stopped:
        return 0
    say("Starting the development mail catcher («Тестовый почтовый ящик») and an outbox worker")
    return supervise(
        # A worker sends what the portal queues, as in production.
        [[flask, "smtp", "devmail"], [flask, "smtp", "worker"]],
        [flask, "run", "--host", "127.0.0.1", "--port", "5000"],
        env, announce="Portal: http://127.0.0.1:5000  (Ctrl+C to stop)")


#: Debian packages the tests drive: the browser and a real IMAP server.
TEST_PACKAGES = {"chromium": CHROMIUM, "dovecot-imapd": "/usr/sbin/dovecot"}
#: Fonts installed with chromium, named because recommends are left out: Liberation (the
#: Arial and Times metrics pages fall back to; a recommend of chromium-common) and DejaVu
#: (Cyrillic; the first font fontconfig depends on), so pages render text as in a desktop.
FONT_PACKAGES = ("fonts-liberation", "fonts-dejavu-core")


def ensure_test_packages() -> None:
    """Install Debian's chromium and Dovecot when they are missing."""
    missing = [name for name, path in TEST_PACKAGES.items() if not Path(path).exists()]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit(f"Missing Debian packages for the tests: {' '.join(missing)} "
                 "(apt-get install them)")
    say(f"Installing Debian packages for the tests: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    must("apt-get", "update", "-qq", env=env)
    # No recommends: they pull in ~110 packages more (udev, upower, a notification daemon)
    # and upgrade systemd; headless chromium needs none of them (the tests pass --disable-gpu).
    must("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing,
         *FONT_PACKAGES, env=env)


def postgres_uri() -> str | None:
    """The PostgreSQL server for the second run, or None when none answers (not in CI)."""
    uri = os.environ.get("PORTAL_TEST_POSTGRES_URI", DEFAULT_PG)
    probe = "import sys, psycopg, sqlalchemy as sa; psycopg.connect(" \
        "sa.make_url(sys.argv[1]).set(drivername='postgresql').render_as_string(False)," \
        " connect_timeout=5).close()"
    if sh(PYTHON, "-c", probe, uri) == 0:
        return uri
    if IN_CI:
        sys.exit(f"PostgreSQL is not reachable at {uri}")
    print(f"!! PostgreSQL is not reachable at {uri}: the PostgreSQL run is left out")
    return None


def pytest(args: list[str], env: dict) -> None:
    code = sh(PYTHON, "-m", "pytest", *args, env=env)
    if code == 5:
        sys.exit("pytest collected no tests: the run proves nothing")
    if code != 0:
        sys.exit(code)


def wheel_check() -> None:
    """Build the wheel, install it into a fresh venv and render a page from it."""
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # stale files would enter the wheel
    with tempfile.TemporaryDirectory(prefix="portal-wheel-") as tmp:
        folder = Path(tmp)
        build = subprocess.run(
            [str(PYTHON), "-m", "build", "--wheel", "--outdir", str(folder / "dist"), str(ROOT)],
            capture_output=True, text=True,
        )
        if build.returncode != 0:
            print(build.stdout, build.stderr)
            sys.exit("building the wheel failed")
        wheel = next((folder / "dist").glob("portal_smtp-*.whl"))
        venv.EnvBuilder(with_pip=True).create(folder / "venv")
        fresh = folder / "venv" / "bin" / "python"
        must(fresh, "-m", "pip", "install", "--quiet", str(wheel))
        must(fresh, ROOT / "tests" / "wheel_smoke.py", cwd=folder)


def test(extra: list[str]) -> None:
    """Set up and run everything CI runs."""
    ensure_venv("test,dev,postgres,redis")
    ensure_test_packages()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PORTAL_ENV", None)
    if extra:
        pytest(extra, env)
        return
    say("ruff")
    must(BIN / "ruff", "check", ".")
    say("Test suite on SQLite")
    pytest([], env)
    uri = postgres_uri()
    if uri:
        say("Test suite on PostgreSQL")
        pytest([], dict(env, PORTAL_TEST_DATABASE_URI=uri))
    say("Built wheel in a fresh virtual environment")
    wheel_check()
    say("All checks passed")


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "run":
        sys.exit(run())
    if command == "test":
        test(sys.argv[2:])
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
