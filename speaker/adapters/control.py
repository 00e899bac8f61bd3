"""The control socket: serves `speakerctl` requests to the running speaker.

Owns the unix socket (mode and group from the config) and the request
handlers. A malformed, oversized or unknown request gets a structured error
and changes nothing; each client is served by its own task with a read
timeout, so a slow or stuck client never blocks checks or other clients. It
knows the speaker only as a `speaker.ports.Controlled`.

The socket is its own: start-up replaces only a stale socket (nothing
listening), refuses a path that is not a socket or on which another process
answers, and `stop` removes the path only while it is still the socket it
bound. Nothing that may block runs on the event loop: a user name (NSS: LDAP
or sssd can take seconds) is looked up in a thread of its own, bounded in
time and cached, and only for the requests that record who asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import grp
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from speaker import logs
from speaker.adapters.peers import Names, Peer, credentials, peer_of
from speaker.core import config, gshut, protocol
from speaker.core.errors import ConfigError, ControlSocketError
from speaker.core.maintenance import OPERATOR
from speaker.core.protocol import ProtocolError, Reply, Request
from speaker.ports import Controlled, StateError, UnknownService

LOG = logs.get("control")
READ_TIMEOUT = 5.0
SETTLE_TIMEOUT = 10.0
PROBE_TIMEOUT = 1.0  # how long start-up waits for a process already on the socket

Send = Callable[[str], Awaitable[None]]


async def _cancel_on_eof(reader: asyncio.StreamReader, task: asyncio.Task[Any] | None) -> None:
    with contextlib.suppress(Exception):
        while await reader.read(4096):
            pass
    if task is not None:
        task.cancel()


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a named pipe")):
        if test(mode):
            return name
    return "not a socket"


async def _occupant(path: Path) -> str | None:
    """Who answers on the unix socket `path`: None if nobody does (a stale socket)."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(path), limit=protocol.MAX_LINE + 1), PROBE_TIMEOUT)
    except (ConnectionRefusedError, FileNotFoundError):
        return None
    except TimeoutError:
        return "a process that accepts no connection"
    except OSError as exc:
        code = errno.errorcode.get(exc.errno or 0, "error")
        return f"a process it cannot connect to ({exc.strerror or exc}, {code})"
    try:
        found = credentials(writer.get_extra_info("socket"))
        who = f" (pid {found[0]})" if found else ""
        try:
            writer.write(protocol.encode_request(Request("ping", {})))
            line = await asyncio.wait_for(reader.readline(), PROBE_TIMEOUT)
            reply = protocol.decode_reply(line)
        except (OSError, TimeoutError, ProtocolError, ValueError):
            return f"another process{who}"
        return f"another speaker{who}" if isinstance(reply, Reply) else f"another process{who}"
    finally:
        writer.close()


class ControlServer:
    def __init__(self, speaker: Controlled) -> None:
        self.speaker = speaker
        self.path = speaker.config.control.socket
        self.names = Names()
        self._server: asyncio.AbstractServer | None = None
        self._bound: tuple[int, int] | None = None  # (device, inode) of the socket we bound
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind the socket; raises ControlSocketError if the path is not ours to take."""
        control = self.speaker.config.control
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self._remove_stale()
        old_umask = os.umask(0o117)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=protocol.MAX_LINE + 1)
        finally:
            os.umask(old_umask)
        bound = os.lstat(self.path)
        self._bound = (bound.st_dev, bound.st_ino)
        os.chmod(self.path, control.mode)
        if control.group:
            try:
                os.chown(self.path, -1, grp.getgrnam(control.group).gr_gid)
            except (KeyError, OSError) as exc:
                logs.log(LOG, logging.ERROR, "cannot give the control socket to its group",
                         socket=self.path, group=control.group, error=exc)
        logs.log(LOG, logging.INFO, "control socket ready", socket=self.path,
                 mode=f"{control.mode:04o}")

    async def _remove_stale(self) -> None:
        """Remove a socket nobody answers on; refuse anything else at the path."""
        try:
            found = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(found.st_mode):
            raise ControlSocketError(
                f"control socket {self.path} exists and is {_kind(found.st_mode)}, not a "
                "socket: refusing to replace it (remove it, or set control.socket to another "
                "path)")
        occupant = await _occupant(self.path)
        if occupant is not None:
            raise ControlSocketError(
                f"control socket {self.path} is in use: {occupant} answers on it; refusing "
                "to take it over (stop that one, or give each speaker its own "
                "control.socket)")
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        if self._bound is not None:  # only the socket we bound: never another instance's
            with contextlib.suppress(OSError):
                found = os.lstat(self.path)
                if (found.st_dev, found.st_ino) == self._bound:
                    self.path.unlink()
            self._bound = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception as exc:  # never let one request take the process down
            logs.log(LOG, logging.ERROR, "control request failed", error=repr(exc))
            with contextlib.suppress(Exception):
                writer.write(protocol.encode_reply(protocol.error(protocol.INTERNAL, str(exc))))
        finally:
            if task is not None:
                self._clients.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
        except TimeoutError:
            reply = protocol.error(protocol.BAD_REQUEST,
                                   f"no complete request line within {READ_TIMEOUT:g} s")
            writer.write(protocol.encode_reply(reply))
            return
        except (ValueError, asyncio.LimitOverrunError):
            reply = protocol.error(protocol.BAD_REQUEST,
                                   f"request longer than {protocol.MAX_LINE} bytes")
            writer.write(protocol.encode_reply(reply))
            return
        if not line:
            return

        async def send(text: str) -> None:
            writer.write(protocol.encode_progress(text))
            await writer.drain()

        try:
            request = protocol.decode_request(line)
        except ProtocolError as exc:
            writer.write(protocol.encode_reply(protocol.error(exc.code, exc.message)))
            await writer.drain()
            return
        watcher = None
        if request.args.get("follow") is True:
            # a follower that goes away ends its request (the client never half-closes)
            watcher = asyncio.create_task(_cancel_on_eof(reader, asyncio.current_task()))
        try:
            reply = await self.dispatch(request, send, peer_of(writer))
        except ProtocolError as exc:
            reply = protocol.error(exc.code, exc.message)
        finally:
            if watcher is not None:
                watcher.cancel()
        writer.write(protocol.encode_reply(reply))
        await writer.drain()

    async def dispatch(self, request: Request, send: Send, peer: Peer | None = None) -> Reply:
        handler = getattr(self, f"do_{request.cmd}")
        result: Reply = await handler(request.args, send, peer or Peer())
        return result

    # -- handlers ------------------------------------------------------------------------

    async def do_ping(self, args: dict[str, Any], send: Send, peer: Peer) -> Reply:
        return Reply(ok=True, result={"pong": True})

    async def do_status(self, args: dict[str, Any], send: Send, peer: Peer) -> Reply:
        return Reply(ok=True, result=self.speaker.status())

    async def do_events(self, args: dict[str, Any], send: Send, peer: Peer) -> Reply:
        follow = args.get("follow", False)
        if not isinstance(follow, bool):
            raise ProtocolError(protocol.BAD_REQUEST, "'follow' must be true or false")
        if not follow:
            return Reply(ok=True, result={"events": self.speaker.event_list()})
        import json

        async with contextlib.aclosing(self.speaker.follow_events()) as events:
            async for event in events:
                await send(json.dumps(event))
        return Reply(ok=True, result={"events": []})

    def _services(self, args: dict[str, Any]) -> list[config.Service]:
        names = protocol.services_arg(args)
        try:
            return self.speaker.services(names)
        except UnknownService as exc:
            known = ", ".join(exc.known) or "none"
            raise ProtocolError(protocol.UNKNOWN_SERVICE,
                                f"unknown service {exc} (configured: {known})") from None

    async def do_withdraw(self, args: dict[str, Any], send: Send, peer: Peer) -> Reply:
        services = self._services(args)
        reason = protocol.text_arg(args, "reason", "maintenance")
        delay = protocol.seconds_arg(args, "drain_delay", self.speaker.config.drain_delay)
        tag = protocol.tag_arg(args) or OPERATOR
        graceful = protocol.graceful_arg(args)
        names = [s.name for s in services]
        by = await self.names.describe(peer)
        try:
            drained = await self.speaker.set_maintenance(names, reason, by, tag, graceful)
        except StateError as exc:
            return protocol.error(protocol.INTERNAL, f"maintenance NOT recorded: {exc}")
        drain: dict[str, str] = {}
        if drained:
            ended = await self._drain(drained, graceful, send)
            if not isinstance(ended, dict):
                return ended
            drain = {n: e.code for n, e in ended.items()}
            names = [n for n in names if drain.get(n) != gshut.REMOVED]  # gone: nothing to wait
            services = [s for s in services if s.name in names]
        else:
            await send(f"withdrawing {', '.join(names)}: maintenance recorded")
        if not await self.speaker.wait_settled(names, SETTLE_TIMEOUT):
            return protocol.error(
                protocol.NOT_CONFIRMED,
                f"ExaBGP did not acknowledge the withdraw within {SETTLE_TIMEOUT:g} s; "
                "maintenance is recorded, but do not stop the DNS server yet "
                "(check that ExaBGP is running: speakerctl status)")
        prefixes = [str(p) for s in services for p in s.prefixes]
        await send(f"withdraw acknowledged by ExaBGP for {', '.join(prefixes)}; "
                   f"draining for {delay:g} s")
        await asyncio.sleep(delay)
        return Reply(ok=True, result={"services": names, "prefixes": prefixes, "safe": True,
                                      "drain_delay": delay, "tag": tag,
                                      **({"drain": drain} if drain else {})})

    async def _drain(self, names: list[str], seconds: float,
                     send: Send) -> dict[str, gshut.Ending] | Reply:
        """The graceful part of a withdraw: wait while `names` drain, tell how each ended
        and return that; an error if one was announced again (or drained anew) meanwhile."""
        await send(f"maintenance recorded; announcing {', '.join(names)} with "
                   f"GRACEFUL_SHUTDOWN ({gshut.GRACEFUL_SHUTDOWN}), withdrawing in {seconds:g} s")
        # the announce's ack, unless the drain ends first (a service down meanwhile is
        # withdrawn: its announce will never settle)
        ending = asyncio.ensure_future(self.speaker.graceful_wait(names))
        settling = asyncio.ensure_future(
            self.speaker.wait_settled(names, SETTLE_TIMEOUT, announced=True))
        await asyncio.wait((ending, settling), return_when=asyncio.FIRST_COMPLETED)
        if not settling.done():
            settling.cancel()
        elif not settling.result():
            await send(f"ExaBGP did not acknowledge the {gshut.GRACEFUL_SHUTDOWN} announce "
                       f"within {SETTLE_TIMEOUT:g} s; still withdrawing at the end")
        ended = await ending
        stopped = {n: e for n, e in ended.items() if e.code in gshut.REFUSED}
        if not stopped:
            for name, how in ended.items():
                await send(f"{name}: {how.text}")
            return ended
        why = "; ".join(f"{n}: {e.text}" for n, e in stopped.items())
        return protocol.error(protocol.CANCELLED,
                              f"graceful drain ended before the withdraw: {why}")

    async def do_announce(self, args: dict[str, Any], send: Send, peer: Peer) -> Reply:
        services = self._services(args)
        tag = protocol.tag_arg(args)
        wait = protocol.seconds_arg(args, "wait", 0.0)
        try:
            held = await self.speaker.clear_maintenance([s.name for s in services], tag)
        except StateError as exc:
            return protocol.error(protocol.INTERNAL, f"maintenance NOT cleared: {exc}")
        result: dict[str, Any] = {"services": [s.name for s in services], "held": held,
                                  "rise": {s.name: s.timing.rise for s in services}}
        free = [n for n in result["services"] if not held.get(n)]
        if wait and free:
            await send(f"waiting up to {wait:g} s for ExaBGP to announce {', '.join(free)}")
            if not await self.speaker.wait_settled(free, wait, announced=True):
                return protocol.error(protocol.NOT_CONFIRMED,
                                      f"{', '.join(free)}: maintenance ended, but not announced "
                                      f"within {wait:g} s (see: speakerctl status)")
        return Reply(ok=True, result=result)

    async def do_reload(self, args: dict[str, Any], send: Send, peer: Peer) -> Reply:
        try:
            summary = self.reload_from_file()
        except ConfigError as exc:
            return protocol.error(protocol.CONFIG_INVALID,
                                  "config NOT changed:\n" + "\n".join(exc.problems))
        return Reply(ok=True, result=summary)

    def reload_from_file(self) -> dict[str, list[str]]:
        path = self.speaker.config_path
        if path is None:
            raise ConfigError(["no configuration file to reload"])
        try:
            try:
                new = config.load(path)
            except ConfigError:
                raise
            except Exception as exc:  # a bug in the reader must not end housekeeping
                logs.log_bug(LOG, "config reader failed", config=path, error=repr(exc))
                raise ConfigError([f"{path}: cannot be read ({exc!r})"]) from None
        except ConfigError as exc:
            logs.log(LOG, logging.ERROR, "config NOT changed", problems=" | ".join(exc.problems))
            raise
        if new.control != self.speaker.config.control:
            logs.log(LOG, logging.WARNING, "control socket settings change only on restart")
        summary = self.speaker.reload(new)
        logs.log(LOG, logging.INFO, "config reloaded",
                 **{k: ",".join(v) for k, v in summary.items() if v})
        return summary
