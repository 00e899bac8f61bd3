"""Where the speaker's files are by default: its YAML and its control socket.

Constants only, importing nothing heavy: the config model takes its defaults
from here, and speakerctl finds the socket with them without loading the
config model (its start-up is on the path of every `speakerctl withdraw`).
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_PATH = Path("/etc/speaker/speaker.yaml")
DEFAULT_SOCKET = Path("/run/speaker/speaker.sock")
