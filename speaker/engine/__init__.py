"""The engine: the speaker's decisions, written against `speaker.ports` and `speaker.core` only."""

from speaker.engine.speaker import Speaker

__all__ = ["Speaker"]
