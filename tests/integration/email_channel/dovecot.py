"""A private Dovecot IMAP server for the poller's tests (see the harness notes)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from imapclient import IMAPClient

PASSWORD = "secret"
USERS = ("agent@example.test", "sales@example.test")

CONFIG = """\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir
mailbox_idle_check_interval = 1 secs
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
}}
passdb {{
  driver = passwd-file
  args = {base}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={base}/mail/%d/%n
}}
namespace inbox {{
  inbox = yes
  mailbox Processed {{
    auto = create
  }}
}}
"""


class Dovecot:
    def __init__(self, base: Path, port: int) -> None:
        self.base = base
        self.port = port
        self.host = "127.0.0.1"

    def start(self) -> None:
        # Dovecot's auth and mail processes (not root) must reach every file under base.
        os.chmod(self.base, 0o755)
        for sub in ("run", "state", "mail"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.base / "mail", 0o777)
        (self.base / "users").write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}\n" for u in USERS))
        conf = self.base / "dovecot.conf"
        conf.write_text(CONFIG.format(base=self.base, port=self.port))
        # Dovecot daemonises and keeps inherited pipes open: give it none.
        subprocess.run(
            ["dovecot", "-c", str(conf)],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not start: {self.log()}")

    def stop(self) -> None:
        pid_file = self.base / "run" / "master.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        pid_file.unlink(missing_ok=True)

    def log(self) -> str:
        path = self.base / "dovecot.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def client(self, user: str = USERS[0]) -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        client.login(user, PASSWORD)
        return client

    def wipe(self, user: str = USERS[0]) -> None:
        """Delete the user's maildir: the next session gets a new UIDVALIDITY."""
        local, domain = user.split("@")
        shutil.rmtree(self.base / "mail" / domain / local, ignore_errors=True)
