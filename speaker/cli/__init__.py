"""`speakerctl`, the operator's command line: parser, client, rendering, offline edits, doctor."""

from speaker.cli.parser import main

__all__ = ["main"]
