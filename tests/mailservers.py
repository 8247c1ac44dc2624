"""Real mail servers on loopback for the tests: Dovecot (IMAP, TLS and STARTTLS) with a
throw-away configuration, aiosmtpd (SMTP with STARTTLS and AUTH), a certificate authority
made for the run, and a TCP relay that can cut a connection mid-stream."""

from __future__ import annotations

import datetime
import grp
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

USER, PASSWORD = "support@lumen.example", "s3cret-Pa55"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def make_certificates(folder: Path) -> dict[str, Path]:
    """A CA and a server certificate for localhost / 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kefu test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=7))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


class Dovecot:
    """``dovecot -F`` with its own configuration, users and Maildir under ``root``."""

    def __init__(self, root: Path, certs: dict[str, Path]) -> None:
        if os.getuid() == 0:
            # Dovecot never reads mail as root, and the test's folders (mode 0700) are
            # closed to its users: as root the server lives in an open folder of its own
            # and the mail belongs to Debian's "mail" user.
            root = Path(tempfile.mkdtemp(prefix="kefu-dovecot-"))
            os.chmod(root, 0o755)
            shutil.copytree(certs["cert"].parent, root / "certs")
            certs = {k: root / "certs" / v.name for k, v in certs.items()}
        self.root = root
        self.binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not Path(self.binary).exists():
            raise RuntimeError("Dovecot is not installed (Debian: dovecot-imapd); "
                               "scripts/dev.sh test installs it.")
        self.tls_port, self.plain_port = free_port(), free_port()
        self.maildir = root / "home" / "Maildir"
        for sub in ("run", "state", "home", "Maildir"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("cur", "new", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        uid, gid = os.getuid(), os.getgid()
        user = pwd.getpwuid(uid).pw_name
        group = grp.getgrgid(gid).gr_name
        self.owner: tuple[int, int] | None = None
        if uid == 0:   # Dovecot's own unprivileged users, which its package creates
            internal, login = "dovecot", "dovenull"
            mail = pwd.getpwnam("mail")
            uid, gid = mail.pw_uid, mail.pw_gid
            self.owner = (uid, gid)
            for path in [root / "home", *(root / "home").rglob("*")]:
                os.chown(path, uid, gid)
        else:
            internal = login = user
        (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        # As root, the test's folders (mode 0700) are closed to Dovecot's own users: its
        # authentication reads the users file as root instead.
        auth_as_root = ("service auth {\n  user = root\n}\n"
                        "service auth-worker {\n  user = root\n}\n") if uid == 0 else ""
        self.conf = root / "dovecot.conf"
        self.conf.write_text(f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = kefu-test-{self.tls_port}
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{certs['cert']}
ssl_key = <{certs['key']}
disable_plaintext_auth = yes
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {'dovecot' if self.owner else group}
default_login_user = {login}
first_valid_uid = {uid}
mail_location = maildir:{self.maildir}
mail_uid = {uid}
mail_gid = {gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.plain_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
{auth_as_root}
service imap-login {{
  chroot =
}}
""")
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Dovecot":
        self.proc = subprocess.Popen([self.binary, "-F", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(self.tls_port)
            wait_for_port(self.plain_port)
        except TimeoutError:
            self.stop()
            log = (self.root / "dovecot.log")
            raise RuntimeError("Dovecot did not start: " + (log.read_text() if log.exists()
                                                             else "no log"))
        return self

    def remove(self) -> None:
        self.stop()
        if self.owner:   # the folder of its own made for root
            shutil.rmtree(self.root, ignore_errors=True)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def deliver(self, raw: bytes, name: str) -> None:
        """Drop a message into the Maildir, as a delivery agent would."""
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(raw)
        if self.owner:
            os.chown(tmp, *self.owner)
        os.replace(tmp, self.maildir / "new" / name)

    def reset_uidvalidity(self) -> None:
        """Make Dovecot renumber the folder (as after a server migration)."""
        self.stop()
        for path in self.maildir.glob("dovecot*"):
            path.unlink()
        for sub in ("cur", "new"):
            for path in (self.maildir / sub).iterdir():
                os.replace(path, self.maildir / "new" / path.name.split(":")[0])
        time.sleep(1.1)   # UIDVALIDITY is a timestamp: make sure it differs
        self.start()


class CuttingRelay:
    """A loopback TCP relay to ``port`` that closes each connection after the server has
    sent ``cut_after`` bytes (a network that drops mid-fetch), until ``healed``."""

    def __init__(self, port: int, cut_after: int) -> None:
        self.target, self.cut_after, self.healed = port, cut_after, False
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, upstream, None),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, self.cut_after),
                             daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if limit is not None and not self.healed and sent + len(data) > limit:
                    dst.sendall(data[:max(0, limit - sent)])
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.server.close()


class SmtpServer:
    """aiosmtpd on loopback with STARTTLS required and AUTH; keeps what it receives and
    refuses recipients listed in ``refuse``."""

    def __init__(self, certs: dict[str, Path]) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.received: list = []
        self.refuse: set[str] = set()
        server = self

        class Handler:
            async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
                if address in server.refuse:
                    return "550 5.1.1 Mailbox unavailable"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, smtp, session, envelope):
                server.received.append(envelope)
                return "250 Message accepted"

        def authenticate(smtp, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and \
                auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
            return AuthResult(success=ok)

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certs["cert"], certs["key"])
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     tls_context=context, require_starttls=True,
                                     authenticator=authenticate, auth_require_tls=True)

    def start(self) -> "SmtpServer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
