"""The speaker's configuration: parse YAML, validate every field, freeze.

The package owns the schema and is split by what each part does: `types`
(reusable typed validators), `model` (the frozen dataclasses), `schema` (the
rules of every field, written with `types`) and `reader` (YAML in, `Config` or
every problem out). It never touches the network or the interfaces it
describes, and only `load` reads a file. Every problem is collected with its
path (``/services/0/timing/rise``) and reported together; after `parse`
returns, the types are trusted everywhere else.

The names below are the public ones (the model's and these): import them from here.
"""

from speaker.core.config import model
from speaker.core.config.model import *  # noqa: F403  (the model is the public face)
from speaker.core.config.reader import load, parse
from speaker.core.config.schema import CHECK_TYPES, COMMUNITY_RE, NAME_RE, SERVICE_KEYS, TOP_KEYS
from speaker.core.errors import ConfigError

__all__ = ["CHECK_TYPES", "COMMUNITY_RE", "NAME_RE", "SERVICE_KEYS", "TOP_KEYS", "ConfigError",
           "load", "parse"]
__all__ += model.__all__
