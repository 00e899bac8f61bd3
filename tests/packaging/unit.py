"""Run a systemd unit's ExecStart the way systemd would, without systemd.

The machine the tests run on has no running systemd, so the lab runs the
installed unit's command under `setpriv` instead: the unit's User/Group, its
ambient and bounding capabilities, NoNewPrivileges, and its environment
(Environment= first, then EnvironmentFile= on top, as systemd does). The
seccomp, mount and namespace hardening of the unit is not reproduced; the
RuntimeDirectory/StateDirectory are returned for the caller to create.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class UnitExec:
    argv: list[str]
    env: dict[str, str]
    user: str
    group: str
    capabilities: list[str]
    runtime_dirs: list[tuple[Path, int]] = field(default_factory=list)
    state_dirs: list[tuple[Path, int]] = field(default_factory=list)

    def setpriv(self) -> list[str]:
        """argv that runs ExecStart as the unit's user with only the unit's capabilities."""
        names = [c.lower().removeprefix("cap_") for c in self.capabilities]
        caps = ",".join(["-all", *(f"+{n}" for n in names)])
        return ["setpriv", "--reuid", self.user, "--regid", self.group, "--init-groups",
                "--inh-caps", caps, "--ambient-caps", caps, "--bounding-set", caps,
                "--no-new-privs", *self.argv]

    def service_env(self) -> dict[str, str]:
        """The environment systemd gives the service: its defaults, then the unit's."""
        import pwd

        account = pwd.getpwnam(self.user)
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG": "C.UTF-8", "USER": self.user, "LOGNAME": self.user,
               "HOME": account.pw_dir, "SHELL": account.pw_shell}
        if self.runtime_dirs:
            env["RUNTIME_DIRECTORY"] = ":".join(str(d) for d, _ in self.runtime_dirs)
        if self.state_dirs:
            env["STATE_DIRECTORY"] = ":".join(str(d) for d, _ in self.state_dirs)
        return {**env, **self.env}


def _service_section(text: str) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]" and "=" in line:
            key, _, value = line.partition("=")
            items.append((key.strip(), value.strip()))
    return items


def _env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def load(unit: Path) -> UnitExec:
    """Read the [Service] section of `unit` (only the keys the speaker's unit uses)."""
    items = _service_section(unit.read_text())
    env: dict[str, str] = {}
    files: list[Path] = []
    argv: list[str] = []
    user = group = "root"
    caps: list[str] = []
    runtime: list[str] = []
    state: list[str] = []
    modes = {"RuntimeDirectoryMode": 0o755, "StateDirectoryMode": 0o755}
    for key, value in items:
        if key == "Environment":
            for assignment in shlex.split(value):
                k, _, v = assignment.partition("=")
                env[k] = v
        elif key == "EnvironmentFile":
            files.append(Path(value.removeprefix("-")))
        elif key == "ExecStart":
            argv = shlex.split(value)
        elif key == "User":
            user = value
        elif key == "Group":
            group = value
        elif key == "AmbientCapabilities":
            caps = value.split()
        elif key == "RuntimeDirectory":
            runtime += value.split()
        elif key == "StateDirectory":
            state += value.split()
        elif key in modes:
            modes[key] = int(value, 8)
    for f in files:
        env.update(_env_file(f))
    return UnitExec(
        argv=argv, env=env, user=user, group=group, capabilities=caps,
        runtime_dirs=[(Path("/run") / d, modes["RuntimeDirectoryMode"]) for d in runtime],
        state_dirs=[(Path("/var/lib") / d, modes["StateDirectoryMode"]) for d in state],
    )
