"""The ``smtp`` commands' options: ``check`` and ``accounts add`` take the same server options
with the same defaults (SSL/TLS, so port 465), and the README lists every option of every
command."""
from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from portal_smtp.cli import smtp_cli
from portal_smtp.extensions import db
from portal_smtp.models import SmtpAccount

from .servers import USERS

LOGIN = "user@example.com"
README = Path(__file__).resolve().parent.parent / "README.md"


def commands(group: click.Group, prefix: str = "smtp"):
    """Every command of the group as (``"smtp accounts add"``, command)."""
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", command


def test_check_and_accounts_add_share_their_server_defaults():
    check = {p.name: p.default for p in smtp_cli.commands["check"].params}
    add = {p.name: p.default for p in smtp_cli.commands["accounts"].commands["add"].params}
    shared = ("host", "port", "security", "auth", "login", "password_stdin", "timeout",
              "insecure")
    assert {name: check[name] for name in shared} == {name: add[name] for name in shared}
    assert check["security"] == "ssl"


def test_check_without_security_uses_ssl(runner, smtp):
    result = runner.invoke(args=[
        "smtp", "check", "--host", smtp.ssl.host, "--port", str(smtp.ssl.port), "--login",
        LOGIN, "--password-stdin", "--timeout", "5"], input=f"{USERS[LOGIN]}\n")
    assert json.loads(result.output)["code"] == "ok", result.output
    assert result.exit_code == 0


def test_accounts_add_without_security_stores_ssl(app, runner, smtp):
    result = runner.invoke(args=[
        "smtp", "accounts", "add", "--email", LOGIN, "--host", smtp.ssl.host, "--port",
        str(smtp.ssl.port), "--login", LOGIN, "--password-stdin"], input=f"{USERS[LOGIN]}\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.get(SmtpAccount, int(result.output)).security == "ssl"


@pytest.mark.parametrize(("security", "port"), [(None, 465), ("starttls", 587), ("none", 25)])
def test_the_default_port_follows_the_security(runner, security, port):
    # A private address the network policy refuses: the message names the port, and no
    # packet leaves the machine.
    extra = ["--security", security] if security else []
    check = runner.invoke(args=["smtp", "check", "--host", "10.0.0.1", "--auth", "none",
                                *extra])
    assert json.loads(check.output)["code"] == "blocked_host"
    assert f"(10.0.0.1:{port})" in check.output
    add = runner.invoke(args=["smtp", "accounts", "add", "--email", LOGIN, "--host",
                              "10.0.0.1", "--auth", "none", *extra])
    assert add.exit_code == 1 and f"(10.0.0.1:{port})" in add.output


def readme_commands() -> dict[str, str]:
    """The README's «Command line» table: the command cell of each row, by command name."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Command line"):].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        if line.startswith("| `"):
            cell = line.split(" | ")[0]
            for name in re.findall(r"`([a-z][a-z-]*(?: [a-z][a-z-]*)?)[ `]", cell):
                rows[f"smtp {name}"] = cell
    return rows


def test_the_readme_lists_every_option_of_every_command():
    rows = readme_commands()
    missing = []
    for name, command in commands(smtp_cli):
        if name not in rows:
            missing.append(name)
            continue
        missing += [f"{name} {option}" for param in command.params
                    if isinstance(param, click.Option)
                    for option in param.opts if option not in rows[name]]
    assert missing == []
