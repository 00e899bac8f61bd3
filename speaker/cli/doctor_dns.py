"""`speakerctl doctor`, the DNS server's side: BIND or PowerDNS, its listen addresses, its
statistics endpoint; each failing check with the fix for that server.

Which server: `dns_statistics.kind` when the YAML has that block (it must be
right for the statistics anyway), else detection by config file:
/etc/bind/named.conf or /etc/powerdns/pdns.conf, whichever exists alone
(`--dns-config FILE` names the file; its name tells the server). The parsers
and judges are pure (text in, findings out); reading files and the one HTTP
request to the statistics URL, only when it points at this node, are the
observations. It never changes a file nor queries another host.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from speaker.adapters import dnsstats
from speaker.cli.doctor_recursive import resolver_only
from speaker.cli.findings import Finding, Verdict
from speaker.core.config import Config, HttpCheck, IPAddress

CONFIGS = {"bind": Path("/etc/bind/named.conf"), "powerdns": Path("/etc/powerdns/pdns.conf")}
LABEL = {"bind": "BIND", "powerdns": "PowerDNS"}
PDNS_DEFAULT_LOCAL = "0.0.0.0, ::"  # PowerDNS 4.5+: every address


@dataclass(frozen=True)
class Server:
    kind: str | None  # bind, powerdns; None: could not tell
    how: str          # how doctor learned it
    config: Path | None


def which(cfg: Config, dns_config: Path | None,
          exists: Callable[[Path], bool] = Path.exists) -> Server:
    """The node's DNS server: dns_statistics.kind, else the config file that exists."""
    if cfg.dns_statistics is not None:
        kind = cfg.dns_statistics.kind
        return Server(kind, "dns_statistics.kind", dns_config or CONFIGS[kind])
    if dns_config is not None:
        kind = "powerdns" if "pdns" in dns_config.name else "bind"
        return Server(kind, f"--dns-config {dns_config}", dns_config)
    found = [k for k, path in CONFIGS.items() if exists(path)]
    if len(found) == 1:
        return Server(found[0], f"{CONFIGS[found[0]]} exists", CONFIGS[found[0]])
    bind, pdns = CONFIGS.values()
    how = (f"both {bind} and {pdns} exist" if found else f"neither {bind} nor {pdns} exists")
    return Server(None, how, None)


# -- reading the server's config (pure: text in) -------------------------------------------


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"(//|#)[^\n]*", " ", text)


def bind_listen(text: str, read: Callable[[str], str] | None = None, depth: int = 0
                ) -> dict[str, list[list[str]]]:
    """`listen-on` and `listen-on-v6` lists of a named.conf, includes followed via `read`."""
    text = _strip_comments(text)
    out: dict[str, list[list[str]]] = {"listen-on": [], "listen-on-v6": []}
    if read is not None and depth < 8:
        for name in re.findall(r'\binclude\s+"([^"]+)"\s*;', text):
            try:
                sub = bind_listen(read(name), read, depth + 1)
            except OSError:
                continue
            for key, lists in sub.items():
                out[key] += lists
    for key, body in re.findall(r"\b(listen-on(?:-v6)?)\b[^{;]*\{([^}]*)\}", text):
        out[key].append([e.strip() for e in body.split(";") if e.strip()])
    return out


def pdns_settings(text: str, read_dir: Callable[[str], list[str]] | None = None
                  ) -> dict[str, str]:
    """pdns.conf's settings (last one wins), with include-dir's *.conf read via `read_dir`."""
    settings: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    include = settings.get("include-dir")
    if include and read_dir is not None:
        for extra in read_dir(include):
            settings.update(pdns_settings(extra))
    return settings


def _bind_match(element: str, address: IPAddress) -> bool | None:
    """True/False if the listen element decides for `address`, None if it does not."""
    negated = element.startswith("!")
    item = element.lstrip("!").strip()
    if item == "any":
        return not negated
    if item == "none":
        return False
    try:
        hit = address in ipaddress.ip_network(item, strict=False)
    except ValueError:
        raise LookupError(item) from None  # an ACL name: doctor cannot tell
    return (not negated) if hit else None


def _pdns_addresses(value: str) -> list[IPAddress]:
    out = []
    for item in re.split(r"[,\s]+", value):
        item = item.strip()
        if item.startswith("["):
            item = item[1:item.find("]")]
        elif item.count(":") == 1:  # IPv4 with a port
            item = item.split(":")[0]
        try:
            out.append(ipaddress.ip_address(item))
        except ValueError:
            continue
    return out


# -- judges (pure) ---------------------------------------------------------------------------


def judge_server(server: Server) -> Finding:
    if server.kind is None:
        return Finding("dns-server", Verdict.WARN, f"cannot tell which DNS server runs here "
                       f"({server.how})", "set dns_statistics.kind (bind or powerdns) in the "
                       "YAML, or pass --dns-config FILE")
    return Finding("dns-server", Verdict.OK, f"{LABEL[server.kind]} (from {server.how})")


def judge_listen(cfg: Config, server: Server, text: str | None, error: str = "",
                 read: Callable[[str], str] | None = None,
                 read_dir: Callable[[str], list[str]] | None = None) -> list[Finding]:
    """Each anycast address of a DNS service (not of an http-only one) is one the server
    listens on, by its config."""
    if server.kind is None or server.config is None:
        return []
    path = server.config
    if text is None:
        return [Finding("dns listen", Verdict.SKIP, f"cannot read {path}: {error}",
                        "run doctor as root, or pass --dns-config FILE")]
    out = []
    addresses = sorted({p.network_address for s in cfg.services
                        if not resolver_only(s)  # a resolver's: not the DNS server's
                        and not all(isinstance(c, HttpCheck) for c in s.checks)
                        for p in s.prefixes}, key=str)
    if server.kind == "bind":
        lists = bind_listen(text, read)
        for addr in addresses:
            key = "listen-on-v6" if addr.version == 6 else "listen-on"
            name = f"dns listen {addr}"
            fix = (f"add {addr}; (or any;) to {key} {{ ... }} in the options of {path} "
                   "(named.conf.options on Debian), then: rndc reconfig")
            if not lists[key]:
                out.append(Finding(name, Verdict.OK, f"{key} not set: BIND listens on every "
                                                     "address"))
                continue
            try:
                hit = any(next((m for e in items if (m := _bind_match(e, addr)) is not None),
                               False) for items in lists[key])
            except LookupError as exc:
                out.append(Finding(name, Verdict.WARN, f"{key} names ACL {exc.args[0]}: cannot "
                                                       "tell", fix))
                continue
            shown = "; ".join("{ " + "; ".join(items) + "; }" for items in lists[key])
            out.append(Finding(name, Verdict.OK, f"{key} {shown}") if hit else Finding(
                name, Verdict.FAIL, f"{key} {shown} leaves out {addr}: BIND does not answer "
                                    "queries to the anycast address", fix))
    else:
        settings = pdns_settings(text, read_dir)
        value = settings.get("local-address", PDNS_DEFAULT_LOCAL)
        listed = _pdns_addresses(value)
        for addr in addresses:
            name = f"dns listen {addr}"
            wildcard = ipaddress.ip_address("::" if addr.version == 6 else "0.0.0.0")
            if addr in listed or wildcard in listed:
                out.append(Finding(name, Verdict.OK, f"local-address={value}"))
            else:
                out.append(Finding(
                    name, Verdict.FAIL, f"local-address={value} leaves out {addr}: PowerDNS "
                                        "does not answer queries to the anycast address",
                    f"in {path}: local-address={value}, {addr} (or {wildcard} for every "
                    "address; non-local-bind=yes if the address may reach lo after pdns "
                    "starts), then: systemctl restart pdns"))
    return out


def statistics_fix(kind: str, error: str, key_file: Path | None) -> str:
    if "API key file" in error and key_file is not None:
        return (f"chmod 0600 {key_file} (or 0640, group of the speaker's user), one line "
                "holding PowerDNS's api-key")
    if kind == "powerdns":
        return ("in pdns.conf: api=yes, api-key=<the key in api_key_file>, webserver=yes, "
                "webserver-address=127.0.0.1, webserver-port=8081, "
                "webserver-allow-from=127.0.0.1; then: systemctl restart pdns (check: curl -H "
                "'X-API-Key: ...' http://127.0.0.1:8081/api/v1/servers/localhost/statistics)")
    return ("in named.conf: statistics-channels { inet 127.0.0.1 port 8053 allow { 127.0.0.1; "
            "}; }; then: rndc reconfig (check: curl http://127.0.0.1:8053/json/v1/server)")


def judge_statistics(cfg: Config, server: Server, total: int | None, error: str) -> Finding:
    stats = cfg.dns_statistics
    if stats is None:
        kind = server.kind or "bind"
        return Finding("dns statistics", Verdict.WARN, "dns_statistics not configured: a "
                       "drain cannot show from the server's counters that clients stopped",
                       f"add dns_statistics: {{kind: {kind}"
                       + (", api_key_file: /etc/speaker/pdns-api.key" if kind == "powerdns"
                          else "") + "} to the YAML; " + statistics_fix(kind, "", None))
    if total is None:
        verdict = Verdict.SKIP if error.startswith("not queried") else Verdict.FAIL
        return Finding("dns statistics", verdict, error,
                       statistics_fix(stats.kind, error, stats.api_key_file))
    return Finding("dns statistics", Verdict.OK, f"{LABEL[stats.kind]} at {stats.url} answers: "
                                                 f"{total} queries so far")


# -- observations (I/O) ----------------------------------------------------------------------


def _read_dir(base: Path) -> Callable[[str], list[str]]:
    def read(folder: str) -> list[str]:
        path = Path(folder) if folder.startswith("/") else base / folder
        try:
            return [p.read_text() for p in sorted(path.glob("*.conf"))]
        except OSError:
            return []
    return read


def _reader(base: Path) -> Callable[[str], str]:
    def read(name: str) -> str:
        return (Path(name) if name.startswith("/") else base / name).read_text()
    return read


def fetch_statistics(cfg: Config, mine: set[IPAddress] | None) -> tuple[int | None, str]:
    """(counter, "") or (None, why): only when the URL's host is an address of this node."""
    stats = cfg.dns_statistics
    if stats is None:
        return None, "not configured"
    host = urlsplit(stats.url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    local = address is not None and (address.is_loopback or (mine is not None and address in mine))
    if not local and host != "localhost":
        return None, f"not queried: {stats.url} is not an address of this node"
    source = dnsstats.Source(url=stats.url, kind=stats.kind, api_key_file=stats.api_key_file)
    try:
        return asyncio.run(dnsstats.fetch(source, timeout=2.0)), ""
    except dnsstats.StatsError as exc:
        return None, str(exc)


def examine(cfg: Config, dns_config: Path | None, mine: set[IPAddress] | None
            ) -> list[Finding]:
    """The DNS-server findings: which server, its listen addresses, its statistics."""
    server = which(cfg, dns_config)
    findings = [judge_server(server)]
    if server.config is not None:
        try:
            text, error = server.config.read_text(), ""
        except OSError as exc:
            text, error = None, exc.strerror or str(exc)
        findings += judge_listen(cfg, server, text, error, _reader(server.config.parent),
                                 _read_dir(server.config.parent))
    total, error = fetch_statistics(cfg, mine)
    findings.append(judge_statistics(cfg, server, total, error))
    return findings
