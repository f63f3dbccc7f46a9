"""One JSON POST with connect/read timeouts, retried with back-off on 5xx and network errors, never on 4xx.

Shared by the webhook and the SMS gateway channels. The URL must be https (plain http only to
loopback, and only when the config allows loopback: tests). Webhook URLs come from residents,
so the host is resolved once, every address is checked (loopback, private, link-local and
reserved ranges are refused unless allowed: no requests into the district's own network), and
the connection goes to the checked address, so a DNS answer cannot change between check and use.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from qa_service.push.channels.errors import PermanentFailure, TransientFailure

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
# Statuses that mean "later" although they are 4xx (RFC 9110: timeout, too early, too many requests).
RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True)
class HttpConfig:
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    retries: int = 2  # extra attempts within one send, after the first
    backoff_seconds: float = 0.5  # before retry n: backoff * 2**(n-1), capped at backoff_max
    backoff_max: float = 10.0
    allow_loopback: bool = False  # tests only: loopback addresses, and http:// to them
    allow_private: bool = False  # receivers inside private networks (10/8, 192.168/16, ...)
    ca_file: str | None = None  # extra trust anchor (tests; a private CA)

    def __post_init__(self) -> None:
        if not (0 < self.connect_timeout <= 120 and 0 < self.read_timeout <= 300):
            got = f"{self.connect_timeout}, {self.read_timeout}"
            raise ValueError(f"timeouts must be 0 < connect <= 120 and 0 < read <= 300 s, got {got}")
        if not 0 <= self.retries <= 10:
            raise ValueError(f"retries must be 0..10, got {self.retries}")
        if self.backoff_seconds < 0 or self.backoff_max < 0:
            raise ValueError(f"back-off must be >= 0 s, got {self.backoff_seconds}, {self.backoff_max}")


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    retry_after: float | None = None  # the Retry-After header, when in seconds (dates are ignored)


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, config: HttpConfig) -> SplitResult:
    """The parts of a URL the channel may post to; ValueError saying why not."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except (ValueError, AttributeError):
        raise ValueError("the URL is not a valid absolute URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("the URL must start with https:// and name a host")
    if parts.username or parts.password:
        raise ValueError("the URL must not carry a user name or password")
    if parts.scheme == "http" and not (config.allow_loopback and _is_loopback_host(parts.hostname)):
        raise ValueError("the URL must use https://")
    if port == 0:
        raise ValueError("the URL's port must be 1..65535")
    return parts


def _allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, config: HttpConfig) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return config.allow_loopback
    return ip.is_global or config.allow_private


def _connect(parts: SplitResult, config: HttpConfig) -> socket.socket:
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TransientFailure(f"cannot resolve the receiver's host ({exc.strerror})") from None
    addresses = [info[4] for info in infos]
    if not addresses or not all(_allowed(ipaddress.ip_address(a[0].split("%")[0]), config) for a in addresses):
        raise PermanentFailure("the receiver's address is in a private or reserved network, which is not allowed")
    sock = socket.create_connection(addresses[0][:2], timeout=config.connect_timeout)
    try:
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=config.ca_file)
            sock = context.wrap_socket(sock, server_hostname=host)
        sock.settimeout(config.read_timeout)
    except BaseException:
        sock.close()
        raise
    return sock


def post_once(parts: SplitResult, body: bytes, headers: Mapping[str, str], config: HttpConfig) -> HttpResponse:
    """One POST; network errors propagate as OSError / http.client.HTTPException."""
    sock = _connect(parts, config)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
    conn.sock = sock  # already connected (and wrapped) to the checked address
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", path, body=body, headers={**headers, "Content-Length": str(len(body))})
        resp = conn.getresponse()
        after = (resp.getheader("Retry-After") or "").strip()
        return HttpResponse(resp.status, resp.read(MAX_RESPONSE_BYTES), float(after) if after.isdigit() else None)
    finally:
        conn.close()


def post_json(
    url: str,
    make_request: Callable[[], tuple[bytes, Mapping[str, str]]],
    config: HttpConfig,
    *,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> HttpResponse:
    """POST, retrying transient failures `config.retries` times; `make_request()` gives (body, headers) per attempt.

    Returns the 2xx response; raises `PermanentFailure` (bad URL, refused address, 3xx, 4xx) or,
    when every attempt failed transiently, `TransientFailure` with the last cause. `what` names
    the receiver in messages ("webhook", "SMS gateway"); the URL itself is never in them.
    """
    try:
        parts = check_url(url, config)
    except ValueError as exc:
        raise PermanentFailure(f"{what} URL refused: {exc}") from None
    last: TransientFailure | None = None
    for attempt in range(config.retries + 1):
        if attempt:
            delay = min(config.backoff_seconds * 2 ** (attempt - 1), config.backoff_max)
            if last is not None and last.retry_after is not None:
                delay = min(max(delay, last.retry_after), config.backoff_max)
            sleep(delay)
        body, headers = make_request()
        try:
            resp = post_once(parts, body, headers, config)
        except (PermanentFailure, TransientFailure) as exc:
            if isinstance(exc, PermanentFailure):
                raise
            last = exc
            continue
        except TimeoutError:
            last = TransientFailure(f"{what} timed out")
            continue
        except (OSError, http.client.HTTPException) as exc:
            last = TransientFailure(f"{what} connection failed ({type(exc).__name__})")
            continue
        if 200 <= resp.status < 300:
            return resp
        if resp.status >= 500 or resp.status in RETRYABLE_4XX:
            last = TransientFailure(
                f"{what} answered HTTP {resp.status}", status=resp.status, retry_after=resp.retry_after
            )
            continue
        raise PermanentFailure(f"{what} refused the message with HTTP {resp.status}", status=resp.status)
    assert last is not None
    logger.debug("%s: %d attempts failed, last: %s", what, config.retries + 1, last)
    raise last
