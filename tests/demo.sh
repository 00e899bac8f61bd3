#!/bin/sh
# The README's demo: on a fresh Debian 12 machine, as root, install what the
# lab needs (tests/bootstrap.sh) and run the seed's walkthrough end to end in
# network namespaces (python3 -m tests.lab demo). Options are passed on, e.g.
#   tests/demo.sh --exabgp 5.0
#   tests/demo.sh --dns pdns      (PowerDNS Authoritative instead of BIND)
#   tests/demo.sh --hidden-master (a hidden master, the nodes secondaries: zone freshness)
set -e
here=$(cd "$(dirname "$0")" && pwd)
if [ -f "$here/bootstrap.sh" ]; then
    bash "$here/bootstrap.sh"
fi
cd "$here/.."
exec /usr/bin/python3 -m tests.lab demo "$@"
