"""speakerctl's rendering: status, events and tables as lines for people.

Pure: functions of the data the process answered (and the time to measure
ages against) that return strings. They print nothing, read no clock and
touch no socket or file.
"""

from __future__ import annotations

import time
from typing import Any


def ago(seconds: float) -> str:
    """A short duration: 45s, 12m, 3h05m, 2d04h."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def stamp(wall: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall))


def table(rows: list[list[str]], indent: str = "") -> list[str]:
    """Columns padded to their widest cell; the last column is not padded."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(widths[i]) if i < len(row) - 1 else cell
                               for i, cell in enumerate(row)).rstrip() for row in rows]


def _progress(service: dict[str, Any]) -> str:
    if service["health"] == "up":
        return f"fall {service['fails']}/{service['fall']}"
    return f"rise {service['passes']}/{service['rise']}"


def _prefix_state(item: dict[str, Any]) -> str:
    desired, confirmed = item["desired"], item["confirmed"]
    if item.get("resetting") and confirmed == "announced":
        return (f"NOT held: confirmed by ExaBGP, but the session with "
                f"{', '.join(item['resetting'])} keeps resetting")
    if item.get("over_limit") and desired == confirmed:
        return f"withdrawn: {item['over_limit']} (its service is up)"
    if desired == confirmed:
        return f"{confirmed} (confirmed by ExaBGP)"
    return f"{desired}, not yet confirmed by ExaBGP (last confirmed: {confirmed})"


def render_status(status: dict[str, Any], now: float) -> list[str]:
    """The human status: a header, one block per service, the neighbours, the ack counters."""
    out = [f"anycast-speaker {status['version']}, pid {status['pid']}, "
           f"up {ago(status['uptime'])}, config {status['config']}", ""]
    rows = [["SERVICE", "STATE", "SINCE", "RISE/FALL", "REASON"]]
    details: dict[int, list[str]] = {}
    for service in status["services"]:
        rows.append([service["name"], service["state"], ago(now - service["since"]) + " ago",
                     _progress(service), service["reason"]])
        lines: list[list[str]] = []
        for item in service["prefixes"]:
            lines.append(["prefix", item["prefix"], _prefix_state(item)])
        for check in service["checks"]:
            verdict = "ok" if check["ok"] else f"FAIL {check['reason']}"
            if check["ok"] and check.get("validity") is not None:  # dnssec: the time left
                verdict = f"ok  {check['reason'].split(': ', 1)[-1]}"
            if check["ok"] and check.get("warning"):
                verdict = f"WARN {check['warning']}"
            lines.append(["check", check["check"], f"{check['latency_ms']:.1f} ms  {verdict}"])
        for watch in service.get("detection", []):
            shown = "watched" if watch["active"] else "not watched"
            lines.append([f"event {watch['kind']}", watch["target"],
                          f"{shown}: {watch['detail']}"])
        extra = []
        held = service.get("maintenances") or ([service["maintenance"]]
                                               if service.get("maintenance") else [])
        for maint in held:
            tag = maint.get("tag", "operator")
            end = "" if tag == "operator" else f"--tag {tag} "
            extra.append(f"    maintenance {tag} since {stamp(maint['since'])} by "
                         f"{maint['by'] or 'unknown'}: {maint['reason'] or '-'} "
                         f"(end it: speakerctl announce {end}{service['name']})")
        drain = service.get("draining")
        if drain:
            extra.append(f"    draining (graceful shutdown, community {drain['community']}): "
                         f"withdrawn in {drain['withdrawn_in']:g} s (cancel: speakerctl "
                         f"announce {service['name']})")
        if service.get("held_down_for"):
            extra.append(f"    held down for {service['held_down_for']:g} s more (flapping)")
        if service.get("address_present") is False:
            extra.append("    anycast address missing from its interface (speakerctl doctor)")
        details[len(rows) - 1] = table(lines, "    ") + extra
    head = table(rows)
    for i, line in enumerate(head):
        out.append(line)
        out.extend(details.get(i, []))
    out.append("")
    neighbors = status["neighbors"]
    if neighbors:
        nrows = [["NEIGHBOR", "STATE", "SINCE", "PEER-AS", "LOCAL", "UPS/DOWNS", "REASON"]]
        for n in neighbors:
            state, reason = n["state"], n["reason"] or ""
            if n.get("resetting"):
                state = f"{state}, RESETTING"
                reason = (f"{n['recent_resets']} resets in 60 s, last: "
                          f"{n.get('down_reason') or 'no reason given'}")
            nrows.append([n["peer"], state, ago(now - n["since"]) + " ago",
                          str(n["peer_as"] or "-"), n["local"] or "-",
                          f"{n['ups']}/{n['downs']}", reason])
        out.extend(table(nrows))
    elif not status.get("exabgp", {}).get("neighbors_known", True):
        out.append("NEIGHBOR  unknown (ExaBGP has not answered show neighbor summary, nor "
                   "reported a session change since this process started)")
    else:
        out.append("NEIGHBOR  none established (ExaBGP reports sessions when the neighbour's "
                   "api block has neighbor-changes)")
    ex = status["exabgp"]
    out.append("")
    out.append(f"ExaBGP acks: {ex['acks_done']} done, {ex['acks_error']} error, "
               f"{ex['acks_unexpected']} unexpected; {ex['waiting']} waiting; "
               f"{ex['ignored_lines']} lines ignored")
    server = status.get("dns_server")
    if server:
        out.append(render_dns_server(server))
    return out


def render_dns_server(server: dict[str, Any]) -> str:
    """The server's own view (BIND or PowerDNS): how many queries clients still send (after a
    drain: about 0)."""
    name = server.get("server") or "the server"
    if server.get("client_rate") is not None:
        line = (f"DNS server: clients {server['client_rate']:.1f} q/s (all {server['rate']:.1f} "
                f"q/s, our probes {server['probe_rate']:.1f} q/s; {server['queries_total']} "
                f"queries since {name} started)")
    elif server.get("queries_total") is not None:
        line = f"DNS server: {server['queries_total']} queries since {name} started"
    else:
        line = "DNS server: no statistics yet"
    if server.get("error"):
        line += f"; statistics: {server['error']}"
    return line


def render_event(event: dict[str, Any]) -> str:
    return (f"{stamp(event['time'])}  {event['service']}  {event['old']} -> {event['new']}  "
            f"{event['reason']}")
