"""A real Dovecot IMAP server for the tests, configured and started on loopback by the run.

It serves IMAP with STARTTLS and IMAPS with the test CA's certificate, and takes users from
a passwd-file the tests may rewrite (Dovecot re-reads it when it changes), which is how a
test "changes the password on the server".
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .servers import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

CONFIG = """\
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={folder}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {plain}
  }}
  inet_listener imaps {{
    port = {tls}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""


class Dovecot:
    """One Dovecot instance; ``plain_port`` offers STARTTLS, ``ssl_port`` is IMAPS."""

    host = "127.0.0.1"

    def __init__(self, folder: Path, cert: str, key: str) -> None:
        if not Path(DOVECOT).exists():
            raise RuntimeError("Dovecot is missing: apt-get install dovecot-imapd "
                               "(python3 dev.py test installs it)")
        self.folder = folder
        for name in ("run", "state", "home"):
            (folder / name).mkdir(parents=True, exist_ok=True)
        shutil.chown(folder / "home", "nobody", "nogroup")
        folder.chmod(0o755)
        self.plain_port, self.ssl_port = free_port(), free_port()
        self.users: dict[str, str] = {}
        self.config = folder / "dovecot.conf"
        self.config.write_text(CONFIG.format(folder=folder, cert=cert, key=key,
                                             plain=self.plain_port, tls=self.ssl_port))
        self.set_users({})
        subprocess.run([DOVECOT, "-c", str(self.config)], check=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.plain_port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError((self.folder / "dovecot.log").read_text()[-2000:])

    def set_users(self, users: dict[str, str]) -> None:
        """Replace the accounts (login → password); Dovecot notices the change at once."""
        self.users = dict(users)
        path = self.folder / "users"
        path.write_text("".join(f"{login}:{{PLAIN}}{password}\n"
                                for login, password in self.users.items()))
        # Dovecot notices a changed file by its mtime in whole seconds: step it forward.
        self._stamp = max(getattr(self, "_stamp", 0) + 1, time.time())
        os.utime(path, (self._stamp, self._stamp))

    def set_password(self, login: str, password: str) -> None:
        """Change one password; waits out Dovecot's once-a-second look at the file."""
        self.set_users({**self.users, login: password})
        time.sleep(1.1)

    def stop(self) -> None:
        subprocess.run([DOVECOT, "-c", str(self.config), "stop"], check=False)
