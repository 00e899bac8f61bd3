"""`python3 -m speaker`: the process ExaBGP runs.

The watchdog is forked here, before the heavy imports, so that it stays a bare
interpreter (speaker.adapters.watchdog); nothing else may come before it.
"""

import sys

from speaker.adapters import watchdog

EARLY = watchdog.fork_early(sys.argv[1:])

from speaker.daemon import main  # noqa: E402  (after the fork: the watchdog never imports it)

sys.exit(main(early_watchdog=EARLY))
