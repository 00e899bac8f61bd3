"""`python3 -m speaker`: the process ExaBGP runs.

The watchdog is forked here, before the heavy imports, so that it stays a bare
interpreter (speaker.adapters.watchdog); nothing else may come before it.

Then asyncio is imported with ssl held back. asyncio imports ssl only for its
TLS transports, which the speaker never uses (the https check's TLS runs in
speaker.adapters.tls, which imports ssl when such a check is built), and
hashlib takes Python's own digests for TSIG and DS records instead of
OpenSSL's, where this Python has them built in (else it keeps OpenSSL's). A
node without an https check never loads OpenSSL: 1.5-2 MB less (issue 14).
An asyncio that cannot be imported without ssl is imported as it is.
"""

import sys

from speaker.adapters import watchdog

EARLY = watchdog.fork_early(sys.argv[1:])


def import_asyncio_without_ssl() -> None:
    import importlib.util  # runpy has imported it already

    if any(importlib.util.find_spec(m) for m in ("_sha2", "_sha256")):  # 3.12+, 3.11
        sys.modules["_hashlib"] = None  # type: ignore[assignment]  # hashlib: its own digests
    sys.modules["ssl"] = None  # type: ignore[assignment]
    try:
        import asyncio  # noqa: F401
    except ImportError:
        for name in [n for n in sys.modules if n == "asyncio" or n.startswith("asyncio.")]:
            del sys.modules[name]
    finally:
        del sys.modules["ssl"]  # may be imported from now on (an https check)


import_asyncio_without_ssl()

from speaker.daemon import main  # noqa: E402  (after the fork: the watchdog never imports it)

sys.exit(main(early_watchdog=EARLY))
