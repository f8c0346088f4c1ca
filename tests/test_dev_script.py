"""``dev.py run`` stops its children: `kill` and Ctrl+C end the mail catcher, the worker and
the web server, even when the script was started in the background with SIGINT ignored.

The children here are small Python processes standing in for ``flask smtp devmail`` /
``worker`` / ``run`` (the real ones need a set-up ``.venv``); the supervisor is dev.py's own
``supervise``, started the way a shell starts a background job.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import dev

ROOT = Path(__file__).resolve().parent.parent
#: Generous bounds for processes to come up and to go away; never asserted as durations.
BOUND_SECONDS = 60

#: A child that writes its pid once its signal handling is set, then sleeps; it notes how it
#: was asked to stop — ``<pid file>.interrupted`` for a KeyboardInterrupt (SIGINT),
#: ``<pid file>.terminated`` for SIGTERM — unless it was told to ignore that signal.
CHILD = """
import os, signal, sys, time
pid_file, ignored = sys.argv[1], sys.argv[2:]

def terminated(signum, frame):
    open(pid_file + ".terminated", "w").close()
    sys.exit(0)

signal.signal(signal.SIGTERM, terminated)
for name in ignored:
    signal.signal(getattr(signal, name), signal.SIG_IGN)
try:  # the pid file is written inside: a SIGINT right after it still lands here
    with open(pid_file + ".tmp", "w") as handle:
        handle.write(str(os.getpid()))
    os.replace(pid_file + ".tmp", pid_file)
    time.sleep(600)
except KeyboardInterrupt:
    open(pid_file + ".interrupted", "w").close()
"""

#: dev.py's supervisor over two services and a main process, as ``dev.py run`` uses it.
SUPERVISOR = """
import json, sys
sys.path.insert(0, sys.argv[1])
import pytest

import dev
services, main = json.loads(sys.argv[2])
sys.exit(dev.supervise(services, main, env=None))
"""

#: Starts the supervisor with SIGINT ignored, as `python3 dev.py run &` is started by a shell
#: without job control: the exec'd interpreter inherits the ignored signal.
BACKGROUND = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


def child_command(pid_file: Path, *ignored: str) -> list[str]:
    return [sys.executable, "-c", CHILD, str(pid_file), *ignored]


@pytest.fixture
def leftovers(tmp_path):
    """Pids a failed test may leave running: killed at teardown — only a process whose
    command line names this test's folder, never one that took over a freed pid."""
    started: list[int] = []
    yield started
    for pid in started:
        with contextlib.suppress(OSError):
            if str(tmp_path).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)


def start_in_background(tmp_path: Path, leftovers: list[int], ignored: tuple[str, ...] = ()):
    """The supervisor over three children, started like a background job; returns it and
    the children's pid files once every child is ready."""
    import json

    pid_files = [tmp_path / f"child-{n}.pid" for n in range(3)]
    commands = [child_command(path, *ignored) for path in pid_files]
    plan = json.dumps([commands[:2], commands[2]])
    supervisor = subprocess.Popen(
        [sys.executable, "-c", BACKGROUND, "-c", SUPERVISOR, str(ROOT), plan],
        stdout=subprocess.DEVNULL)
    leftovers.append(supervisor.pid)
    deadline = time.monotonic() + BOUND_SECONDS
    while not all(path.exists() for path in pid_files):
        assert supervisor.poll() is None, "the supervisor ended before its children started"
        assert time.monotonic() < deadline, "the children did not start"
        time.sleep(0.05)
    leftovers.extend(pids(pid_files))
    return supervisor, pid_files


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (an unreaped one counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def pids(pid_files: list[Path]) -> list[int]:
    return [int(path.read_text()) for path in pid_files]


def test_kill_stops_children_that_ignore_sigint(tmp_path, leftovers):
    supervisor, pid_files = start_in_background(tmp_path, leftovers, ("SIGINT",))
    children = pids(pid_files)
    assert all(alive(pid) for pid in children)
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(BOUND_SECONDS) == 0
    assert [pid for pid in children if alive(pid)] == []
    # Each child got the SIGTERM passed on (not a SIGINT it ignores, then a kill).
    assert all(Path(f"{path}.terminated").exists() for path in pid_files)


def test_ctrl_c_reaches_children_of_a_script_started_in_the_background(tmp_path, leftovers):
    supervisor, pid_files = start_in_background(tmp_path, leftovers)
    children = pids(pid_files)
    supervisor.send_signal(signal.SIGINT)
    assert supervisor.wait(BOUND_SECONDS) == 0
    assert [pid for pid in children if alive(pid)] == []
    # Each child stopped on the SIGINT passed on to it, not by a kill: the background
    # start's ignored SIGINT was not handed down.
    assert all(Path(f"{path}.interrupted").exists() for path in pid_files)


def test_stop_children_kills_what_ignores_every_signal(tmp_path, leftovers):
    pid_files = [tmp_path / "stubborn.pid", tmp_path / "polite.pid"]
    children = [subprocess.Popen(child_command(pid_files[0], "SIGINT", "SIGTERM")),
                subprocess.Popen(child_command(pid_files[1]))]
    leftovers.extend(child.pid for child in children)
    deadline = time.monotonic() + BOUND_SECONDS
    while not all(path.exists() for path in pid_files):
        assert time.monotonic() < deadline, "the children did not start"
        time.sleep(0.05)
    dev.stop_children(children, signal.SIGTERM, grace=0.5)
    assert children[0].returncode == -signal.SIGKILL
    assert children[1].returncode == 0 and Path(f"{pid_files[1]}.terminated").exists()
