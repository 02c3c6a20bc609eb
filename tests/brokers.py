"""A throwaway RabbitMQ node of a test's own, with a TLS listener and certificates made here.

Tests that need a broker they may break (TLS settings, restarts, faults) must never touch the
machine's shared RabbitMQ. `RabbitNode` starts a private one:

* its own Erlang node name (`energymon-test-<random>@localhost`), AMQP port, TLS port and
  Erlang distribution port, all free ports picked at start;
* its own data, log and plugin-expansion directories, generated `rabbitmq.conf` and an empty
  enabled-plugins file (so no management listener), all under one temporary directory;
* its own Erlang cookie: HOME points into that directory for the server and for `rabbitmqctl`;
* certificates made with `trustme`: a CA, a server certificate for localhost and 127.0.0.1,
  and a client certificate for mutual TLS (`TlsFiles`).

`start()` returns once `rabbitmqctl await_startup` says the node is up; `stop()` asks the node
to stop and kills its process group when it does not within the timeout. The node registers
with the epmd already running on the machine, or starts one (which outlives the node, as
epmd always does).

The session fixture `tls_rabbit` in tests/conftest.py starts one such node (server-side TLS,
client certificates optional) for the whole run; a test that needs other broker settings
starts its own node with `RabbitNode(dir, tls, mutual=True)`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import trustme

# The Debian wrapper in /usr/sbin re-runs the server as the rabbitmq user, dropping the
# environment that makes this node private; the real scripts live here.
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a test CA, a server certificate it signed and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def make(cls, directory: Path) -> TlsFiles:
        """A fresh CA with a server certificate for localhost and a client certificate."""
        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="energymon test CA")
        server = ca.issue_cert("localhost", "127.0.0.1")
        client = ca.issue_cert("energymon-meter@example.net")
        files = cls(
            ca=directory / "ca.pem",
            server_cert=directory / "server.pem",
            server_key=directory / "server.key",
            client_cert=directory / "client.pem",
            client_key=directory / "client.key",
        )
        ca.cert_pem.write_to_path(str(files.ca))
        server.cert_chain_pems[0].write_to_path(str(files.server_cert))
        server.private_key_pem.write_to_path(str(files.server_key))
        client.cert_chain_pems[0].write_to_path(str(files.client_cert))
        client.private_key_pem.write_to_path(str(files.client_key))
        return files


@dataclass
class RabbitNode:
    """One private RabbitMQ node; `mutual` makes it refuse TLS clients without a certificate."""

    directory: Path
    tls: TlsFiles
    mutual: bool = False
    name: str = field(default_factory=lambda: f"energymon-test-{secrets.token_hex(4)}@localhost")
    amqp_port: int = field(default_factory=free_port)
    tls_port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def amqp_url(self) -> str:
        """Plain AMQP on 127.0.0.1 (for tests that need no TLS)."""
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def amqps_url(self) -> str:
        """AMQP over TLS; the server certificate is for localhost and 127.0.0.1."""
        return f"amqps://guest:guest@localhost:{self.tls_port}/"

    @property
    def log(self) -> Path:
        """The node's main log file."""
        return self.directory / "log" / f"{self.name}.log"

    def _env(self) -> dict[str, str]:
        home = self.directory / "home"
        return {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.directory / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.directory / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.directory / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.directory / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self.directory / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.directory / "rabbitmq.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def _write_files(self) -> None:
        home = self.directory / "home"
        home.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(16))
            cookie.chmod(0o400)
        (self.directory / "enabled_plugins").write_text("[].\n")
        (self.directory / "rabbitmq-env.conf").write_text("")
        (self.directory / "advanced.config").write_text("[].\n")
        verify = "verify_peer" if self.mutual else "verify_none"
        (self.directory / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
            f"listeners.ssl.default = 127.0.0.1:{self.tls_port}\n"
            f"ssl_options.cacertfile = {self.tls.ca}\n"
            f"ssl_options.certfile = {self.tls.server_cert}\n"
            f"ssl_options.keyfile = {self.tls.server_key}\n"
            f"ssl_options.verify = {verify}\n"
            f"ssl_options.fail_if_no_peer_cert = {'true' if self.mutual else 'false'}\n"
            # guest may log in from 127.0.0.1 only; that is where the tests are.
            "loopback_users.guest = true\n"
            "log.file.level = info\n"
            "log.console = false\n"
        )

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """Run `rabbitmqctl` against this node and return its output."""
        result = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.name, *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {result.stderr or result.stdout}")
        return result.stdout

    def start(self) -> None:
        """Start the node and return once it accepts connections."""
        self._write_files()
        with (self.directory / "server.out").open("ab") as out:
            self.proc = subprocess.Popen(
                [str(RABBITMQ_BIN / "rabbitmq-server")],
                cwd=self.directory,
                env=self._env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # await_startup fails at once while the node has not yet registered with epmd; ask
        # again until it answers, the server exits or the time is up.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self.ctl("await_startup", "--timeout", "10", timeout=20)
                return
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                problem = exc
            try:
                self.proc.wait(0.5)
            except subprocess.TimeoutExpired:
                if time.monotonic() < deadline:
                    continue
            self.stop()
            raise RuntimeError(f"RabbitMQ node {self.name} did not start: {problem}\n{self.tail()}")

    def stop(self) -> None:
        """Stop the node; kill its process group when it does not stop in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.ctl("stop", timeout=STOP_TIMEOUT)
            self.proc.wait(STOP_TIMEOUT)
        except (RuntimeError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def tail(self, chars: int = 3000) -> str:
        """The end of the node's log and console output, for failure messages."""
        parts = [p for p in (self.log, self.directory / "server.out") if p.exists()]
        return "\n".join(p.read_text(errors="replace")[-chars:] for p in parts)


def rabbitmq_missing() -> str | None:
    """Why no private node can be started here, or None."""
    if not (RABBITMQ_BIN / "rabbitmq-server").exists() or shutil.which("epmd") is None:
        return f"RabbitMQ is not installed in {RABBITMQ_BIN}"
    return None
