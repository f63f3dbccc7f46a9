"""Receivers on loopback for the channel tests, started by the test itself: an HTTP(S) receiver (webhook,
SMS gateway) that dedupes on the idempotency key like a real one, and an SMTP server (aiosmtpd) with
STARTTLS and login. Both record everything they got, so tests assert on what really crossed the wire.

The TLS material is a throw-away CA and a certificate for 127.0.0.1 (EC P-256, valid to 2126),
made once with openssl for these tests only; it protects nothing.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from qa_service.push.records import Contact, PushMessage

TEST_CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBoTCCAUegAwIBAgIUTbFlLQdREVwPOsnDCxaDsLFYhFgwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwScWEtc2VydmljZSB0ZXN0IENBMCAXDTI2MTIwMTIzMTI0MFoY
DzIxMjYxMTA3MjMxMjQwWjAdMRswGQYDVQQDDBJxYS1zZXJ2aWNlIHRlc3QgQ0Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARgtEDHj7btas4VAzkjgBa/sT9nSywf
Z6K8qV/xIM5wCj0lDbTZ/PsvwVCCWxjSzXCWczfaX20JuMOk4iDGUNa9o2MwYTAd
BgNVHQ4EFgQUV4ptpVgJTObaj147CTynv+FSrokwHwYDVR0jBBgwFoAUV4ptpVgJ
TObaj147CTynv+FSrokwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYw
CgYIKoZIzj0EAwIDSAAwRQIhAKPt8niNija2ziUSLrjY/5O2uYxr4Z5kubGCGI0X
XWD4AiBnWb1a61QJ4aJcC6Qjem0Efy2BMphZ6qb+XuM5TL+HFA==
-----END CERTIFICATE-----
"""
SERVER_CERT_PEM = """-----BEGIN CERTIFICATE-----
MIIByDCCAW6gAwIBAgIUe4xt3D51iB7f+OSrZfueU5fOIPMwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwScWEtc2VydmljZSB0ZXN0IENBMCAXDTI2MTIwMTIzMTI0MFoY
DzIxMjYxMTA3MjMxMjQwWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjO
PQIBBggqhkjOPQMBBwNCAAQTaMnT3o2Q6dKhKyvtmCO1K1c2JldwNaCRv3P+MRcm
/mWBi07Vphp3OrL2Vdf82/kGOcMhfsXT39u26dyB+t0ao4GSMIGPMBoGA1UdEQQT
MBGHBH8AAAGCCWxvY2FsaG9zdDAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQEAwIH
gDATBgNVHSUEDDAKBggrBgEFBQcDATAfBgNVHSMEGDAWgBRXim2lWAlM5tqPXjsJ
PKe/4VKuiTAdBgNVHQ4EFgQUlgYsBJK61+jyCHzumYJ0hVhASTAwCgYIKoZIzj0E
AwIDSAAwRQIgVueF60CA4Fc6L4RnYHOzxBxrmdMU1WjwHx4bmE4WiCMCIQCdy9Wx
bLv/EPMeH1CYuUZrh6wO7GMGhLaI9m5K53ZyXw==
-----END CERTIFICATE-----
"""
SERVER_KEY_PEM = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgd86irebp9HepJhpB
uzcMKWrIOovJcLzpvXjyr4Yf7PehRANCAAQTaMnT3o2Q6dKhKyvtmCO1K1c2Jldw
NaCRv3P+MRcm/mWBi07Vphp3OrL2Vdf82/kGOcMhfsXT39u26dyB+t0a
-----END PRIVATE KEY-----
"""


def write_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """(CA file for clients, server certificate, server key) written under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    for path, text in zip(paths, (TEST_CA_PEM, SERVER_CERT_PEM, SERVER_KEY_PEM), strict=True):
        path.write_text(text)
    return paths


def server_context(directory: Path) -> ssl.SSLContext:
    _, cert, key = write_tls_files(directory)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


# -- HTTP ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def header_key(r: Received) -> str:
    return r.headers.get("idempotency-key", "")


class HttpReceiver:
    """Answers POSTs with the scripted statuses (then 200), dedupes accepted messages on `key_of(request)`.

    `stall(n)`: the next n requests get no answer until the receiver stops (a hung server, for
    read timeouts). `requests` holds every request, `accepted` the keys in first-acceptance order,
    `duplicates` how often an accepted key came again (answered 200 without delivering twice).
    """

    def __init__(self, *, tls_dir: Path | None = None, key_of: Callable[[Received], str] = header_key) -> None:
        self.key_of = key_of
        self.requests: list[Received] = []
        self.accepted: list[str] = []
        self.duplicates: Counter[str] = Counter()
        self._statuses: deque[int] = deque()
        self._stalls = 0
        self._release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                req = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                status, stall = receiver._decide(req)
                if stall:
                    receiver._release.wait(30)
                    return
                payload = json.dumps({"ok": 200 <= status < 300}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    if status in (429, 503):
                        self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.scheme = "http"
        if tls_dir is not None:
            self._server.socket = server_context(tls_dir).wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self.port = self._server.server_address[1]
        # A short poll interval: shutdown() waits for the loop to notice, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="loopback-http", daemon=True
        )

    def _decide(self, req: Received) -> tuple[int, bool]:
        with self._lock:
            self.requests.append(req)
            if self._stalls:
                self._stalls -= 1
                return 0, True
            status = self._statuses.popleft() if self._statuses else 200
            if 200 <= status < 300:
                key = self.key_of(req)
                if key in self.accepted:
                    self.duplicates[key] += 1
                else:
                    self.accepted.append(key)
            return status, False

    def script(self, *statuses: int) -> None:
        with self._lock:
            self._statuses.extend(statuses)

    def stall(self, n: int = 1) -> None:
        with self._lock:
            self._stalls += n

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released: connecting is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- SMTP ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    tls: bool
    login: str | None

    def parsed(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]


class _Handler:
    def __init__(self, server: SmtpReceiver) -> None:
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd hook)
        reply = self.server.rcpt_replies.popleft() if self.server.rcpt_replies else None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        reply = self.server.data_replies.popleft() if self.server.data_replies else None
        if reply:
            return reply
        user = getattr(session.auth_data, "login", None)
        login = user.decode() if isinstance(user, bytes) else user
        self.server.mails.append(
            Mail(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.original_content or envelope.content,
                 session.ssl is not None, login)
        )  # fmt: skip
        return "250 Message accepted"


class _PortZeroController(Controller):
    """aiosmtpd binds a fixed port by default; bind port 0 instead, so parallel tests never collide."""

    def _create_server(self):  # type: ignore[no-untyped-def]
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        return self.loop.create_server(self._factory_invoker, sock=sock, ssl=self.ssl_context)


class SmtpReceiver:
    """An SMTP server on loopback that requires STARTTLS and login `user`/`password` (when given)."""

    def __init__(self, tls_dir: Path, *, user: str | None = "push", password: str = "smtp-secret") -> None:
        self.mails: list[Mail] = []
        self.rcpt_replies: deque[str] = deque()  # e.g. "550 5.1.1 no such mailbox"
        self.data_replies: deque[str] = deque()  # e.g. "451 4.3.0 try again later"
        self.logins: list[str] = []

        def authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001
            ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
                (user or "").encode(), password.encode())  # fmt: skip
            if ok:
                self.logins.append(auth_data.login.decode())
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

        self._controller = _PortZeroController(
            _Handler(self),
            hostname="127.0.0.1",
            tls_context=server_context(tls_dir),
            require_starttls=True,
            authenticator=authenticator if user else None,
            auth_required=user is not None,
            auth_require_tls=True,
        )
        self.ca_file = str(tls_dir / "ca.pem")

    @property
    def port(self) -> int:
        return self._controller.port

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


# -- messages ------------------------------------------------------------------------------------------
def push_message(**fields: object) -> PushMessage:
    """A claimed outbox row for the channel tests: a realistic policy unless `fields` say otherwise."""
    row: dict[str, object] = {
        "id": 1,
        "key": "push-0123456789abcdef0123456789abcdef",
        "profile_id": "p-0123456789abcdef",
        "doc_id": "lc-cydb-2023",
        "doc_version": "v1",
        "title": "历城区创业担保贷款实施办法",
        "link": "/api/documents/lc-cydb-2023",
        "reason": "您关注“就业创业”，该政策适用于历城区居民",
        "doc_number": "济历城政办发〔2023〕5号",
        "evidence": ("个人创业担保贷款最高额度为30万元。",),
        "revised": False,
        "attempts": 0,
        "contact": Contact(),
    }
    row.update(fields)
    return PushMessage(**row)  # type: ignore[arg-type]
