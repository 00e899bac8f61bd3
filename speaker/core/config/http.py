"""The `http` check (anycast HTTP(S)): its model, its keys and what each must be.

Owns `HttpCheck` (frozen) and reading one `http` check's mapping into it, with
every problem at its path; `schema.CHECK_TYPES` lists it and `model.Check`
includes it. Must not connect, resolve or read anything (not even `ca_file`):
the probe is `speaker.adapters.http`, the verdict on a response
`speaker.core.http_verdicts`.

Names are never resolved: the probe connects to `address`, or to the URL's host
when that is an IP address; a URL whose host is a name needs `address`. A
lookup would run in a thread of asyncio's executor, depend on a resolver (on
an anycast DNS node, perhaps the very service being judged) and could send the
probe to another host, while the check must judge this node.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from speaker.core.config.types import (
    IP_ADDRESS,
    AbsolutePath,
    At,
    Boolean,
    Fields,
    Integer,
    Invalid,
    IPAddress,
    ListOf,
    OneOf,
    Refine,
    Reported,
    Seconds,
    Text,
)

KEYS = ("type", "url", "host", "address", "status", "body", "verify", "ca_file", "timeout",
        "method")
BODY_LIMIT = 64 * 1024  # bytes of the body read and searched for `body`
METHODS = ("GET", "HEAD")
DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


@dataclass(frozen=True)
class HttpCheck:
    """GET `url` from `server` (port `port`) and judge the status line, and the body.

    `host` is the Host header and the TLS server name (SNI, and the name the
    certificate must carry when `verify`); `target` the request target (path
    and query). Passes when the status is one of `status` and, if `body` is
    set, the first BODY_LIMIT bytes of the body contain it.
    """

    url: str
    server: IPAddress  # connected to: `address`, or the URL's host (an IP address)
    port: int
    host: str
    scheme: str = "http"
    target: str = "/"
    status: tuple[int, ...] = (200,)
    body: str | None = None
    verify: bool = True
    ca_file: Path | None = None
    timeout: float | None = None
    method: str = "GET"
    transport: str = "tcp"  # what the event path watches (speaker.core.watch)
    type: str = "http"

    def describe(self) -> str:
        via = "" if _literal(self.url_host) == self.server else f" at {self.server}"
        return f"http check {self.url}{via}"

    @property
    def url_host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def host_header(self) -> str:
        """The Host header: `host`, bracketed if IPv6, with the port unless the default."""
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == DEFAULT_PORTS[self.scheme] else f"{name}:{self.port}"


def _literal(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class _Url:
    scheme: str
    host: str
    port: int
    target: str


def _url(value: object, at: At) -> _Url:
    text = Text("must be an http:// or https:// URL")(value, at)
    if any(c.isspace() or ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise Invalid(f"must not contain spaces or control characters (got {text!r})")
    if not text.isascii():
        raise Invalid(f"must be ASCII: percent-encode other characters (got {text!r})")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise Invalid(f"is not a valid URL: {text!r} ({exc})") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise Invalid(f"must be an http:// or https:// URL (got {text!r})")
    if not parts.hostname:
        raise Invalid(f"has no host (got {text!r})")
    if parts.username is not None or parts.password is not None:
        raise Invalid("must not carry a user or password")
    host = parts.hostname
    if _literal(host) is None and not HOST_NAME.fullmatch(host):
        raise Invalid(f"has a host that is neither an IP address nor a name: {host!r} "
                      "(an IPv6 address goes in brackets: http://[2001:db8::80]/)")
    if ":" in host and "[" not in parts.netloc:
        raise Invalid("must put an IPv6 address in brackets: http://[2001:db8::80]/")
    if port == 0:
        raise Invalid("must have a port from 1 to 65535 (got 0)")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Url(parts.scheme, host, port or DEFAULT_PORTS[parts.scheme], target)


def _host(text: str) -> bool:
    return _literal(text) is not None or bool(HOST_NAME.fullmatch(text))


HOST = Refine(Text(), _host, "must be a host name or an IP address, as the Host header and "
                             "the TLS server name carry it (got {value!r})")
STATUS = Integer(100, 599)
BODY = Refine(Text(), lambda text: len(text.encode()) <= BODY_LIMIT,
              f"must be at most {BODY_LIMIT} bytes (only the first {BODY_LIMIT} bytes of the "
              "body are read)")


def _status(value: object, at: At) -> tuple[int, ...]:
    if isinstance(value, list):
        return ListOf(STATUS, min_items=1, too_few="must list at least one status",
                      unique=True)(value, at)
    return (STATUS(value, at),)


def http_check(f: Fields) -> HttpCheck:
    url = f.need("url", _url)
    address = f.get("address", IP_ADDRESS, None)
    host = f.get("host", HOST, None)
    status = f.get("status", _status, (200,))
    method = f.get("method", OneOf(METHODS), "GET")
    body = f.get("body", BODY, None)
    verify = f.get("verify", Boolean(), True)
    ca_file = f.get("ca_file", AbsolutePath(), None)
    timeout = f.get("timeout", Seconds(0.01, 60), None)
    if body is not None and method == "HEAD":
        (f.at / "body").add("needs method GET (a response to HEAD has no body)")
    if url is None:
        raise Reported
    server = address or _literal(url.host)
    if server is None:
        (f.at / "address").add(f"is required: the URL's host {url.host!r} is a name, and the "
                               "speaker never resolves names (set address to this node's IP "
                               "address that serves it)")
        raise Reported
    if url.scheme == "http" and f.has("ca_file"):
        (f.at / "ca_file").add("is only for https:// URLs")
    elif url.scheme == "http" and f.has("verify"):
        (f.at / "verify").add("is only for https:// URLs")
    elif not verify and f.has("ca_file"):
        (f.at / "ca_file").add("is not used with verify: false (no certificate is checked)")
    return HttpCheck(url=str(f.data["url"]), server=server, port=url.port,
                     host=host or url.host, scheme=url.scheme, target=url.target,
                     status=status, body=body, verify=verify, ca_file=ca_file,
                     timeout=timeout, method=method)
