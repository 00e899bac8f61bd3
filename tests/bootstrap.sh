#!/bin/bash
# Installs everything the demo and the tests need on a Debian 12 machine (as root).
# Idempotent: a second run only checks. Used by tests/run.sh, tests/demo.sh and .ci/run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

APT_PACKAGES=(
  # the product's own dependencies, from Debian
  python3 python3-venv python3-exabgp exabgp python3-dnspython python3-pyroute2 python3-yaml
  python3-prometheus-client
  # the lab: router, DNS servers (BIND, PowerDNS with its bind backend), client tools, namespaces
  frr bird2 bind9 bind9-dnsutils pdns-server pdns-backend-bind iproute2 procps util-linux
  dnsperf   # the overload lab test's load generator (tests/e2e/test_lab_overload.py)
  # the dnssec check: validate: true (python3-dnspython only recommends cryptography), and
  # its lab test's signed zone: dnssec-keygen, dnssec-signzone, rndc (tests/lab/dnssec.py)
  python3-cryptography bind9-utils
  gobgpd   # GoBGP as the router, checked at the BGP level (tests/e2e/test_lab_gobgp.py)
  nginx openssl   # the http check's lab web server and test CA (tests/lab/web.py); see below
  unbound   # the recursive check's lab resolvers (tests/lab/resolver.py; host service disabled below)
  # tests
  python3-pytest python3-hypothesis
  python3-matplotlib   # the failover pictures of the demo and the bench (never the speaker's)
  prometheus   # promtool: checks and unit-tests packaging/monitoring/prometheus-alerts.yml
  # the Debian package
  debhelper dh-python pybuild-plugin-pyproject python3-setuptools lintian fakeroot
  dpkg-dev systemd man-db adduser
  # --- systemd boot test (tests/packaging/test_systemd.py; owner: helper systemd) ---
  # debootstraps Debian 12 and 13 roots and boots them with systemd-nspawn
  debootstrap systemd-container debian-archive-keyring git
  # packaging/build-deb: dpkg-buildpackage refuses to build without it
  build-essential
  # --- end systemd boot test ---
)
EXABGP5_VERSION=5.0.15

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  # no service may start from the postinst of frr, bind9 or pdns-server: the lab starts its own
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# gobgpd's postinst enables its unit (it starts only with /etc/gobgpd.conf): the lab runs
# its own gobgpd in a router namespace, none may run on the host.
if [ -d /run/systemd/system ] && systemctl is-enabled -q gobgpd.service 2>/dev/null; then
  systemctl disable --now gobgpd.service >&2
fi

# Debian's nginx enables (and, without policy-rc.d, starts) a service on host port 80: the
# lab starts its own nginx in each node's namespace, so the host's stays stopped and disabled.
if [ -e /lib/systemd/system/nginx.service ]; then
  if [ -d /run/systemd/system ]; then
    systemctl disable --now nginx >/dev/null 2>&1 || true
  else
    systemctl disable nginx >/dev/null 2>&1 || true   # offline: only the boot-time link
  fi
fi
# ---- unbound (helper recursive) -----------------------------------------------------------
# The lab starts its own unbound per node (own config, pidfile, no control channel). Debian's
# unbound service must never hold the host's port 53 nor rewrite its resolv.conf: stopped and
# disabled, with or without a running systemd (policy-rc.d above kept it from starting).
if [ -e /lib/systemd/system/unbound.service ]; then
  if [ -d /run/systemd/system ]; then
    systemctl disable --now unbound.service unbound-resolvconf.service >/dev/null 2>&1 || true
  else
    systemctl disable unbound.service unbound-resolvconf.service >/dev/null 2>&1 || true
  fi
fi
if [ -x /etc/init.d/unbound ]; then
  if [ ! -d /run/systemd/system ] && [ -s /run/unbound.pid ]; then
    /etc/init.d/unbound stop >&2 || true
  fi
  update-rc.d unbound disable >/dev/null 2>&1 || true
fi
# ---- end unbound ---------------------------------------------------------------------------

# Tools for lint and types, and PyPI's exabgp 5.0, each in a venv of Debian's python3
# (with the system site-packages, so dnspython, pyroute2 and PyYAML come from Debian).
if [ ! -x .venv-tools/bin/ruff ] || [ ! -x .venv-tools/bin/mypy ] || [ ! -x .venv-tools/bin/lint-imports ]; then
  echo "bootstrap: creating .venv-tools (ruff, mypy, import-linter)" >&2
  /usr/bin/python3 -m venv --system-site-packages .venv-tools
  .venv-tools/bin/pip install -q --disable-pip-version-check ruff mypy types-PyYAML import-linter >&2
fi
exabgp5_version=$(.venv-exabgp5/bin/exabgp version 2>&1 || true)   # exits 1 after printing
if ! grep -q "ExaBGP : $EXABGP5_VERSION" <<<"$exabgp5_version"; then
  echo "bootstrap: creating .venv-exabgp5 (exabgp $EXABGP5_VERSION from PyPI)" >&2
  [ -x .venv-exabgp5/bin/pip ] || /usr/bin/python3 -m venv --system-site-packages .venv-exabgp5
  .venv-exabgp5/bin/pip install -q --disable-pip-version-check "exabgp==$EXABGP5_VERSION" >&2
fi
# ---- version lanes (helper netlink) -------------------------------------------------------
# .venv-newest and .venv-oldest: plain venvs of Debian's python3 (no system site-packages)
# with `pip install .[metrics,test]`, constrained by tests/constraints-<lane>.txt: the
# newest releases pip finds (ExaBGP 5.0.x), or the oldest ones pyproject.toml allows.
# tests/run.sh runs the unit suite and key lab tests in each (SPEAKER_PYTHON, see
# tests/lab/lanes.py). A venv is rebuilt from nothing when pyproject.toml or its
# constraints change or it fails its import check; the project alone is reinstalled
# when speaker/ changes. Kept otherwise; never needed (a missing venv is just built).
lane_venv() {  # NAME
  local venv=.venv-$1 constraints=tests/constraints-$1.txt deps code
  deps=$(cat pyproject.toml "$constraints" | sha256sum | cut -d' ' -f1)
  code=$(find speaker -name '*.py' -print0 | sort -z | xargs -0 cat | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$venv/.lane-deps" 2>/dev/null)" != "$deps" ] || ! "$venv/bin/python" -c \
      "import exabgp, dns, pyroute2, yaml, prometheus_client, pytest, hypothesis" 2>/dev/null; then
    echo "bootstrap: creating $venv (pip install .[metrics,test] -c $constraints)" >&2
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --use-pep517 -c "$constraints" \
      ".[metrics,test]" >&2
    echo "$deps" > "$venv/.lane-deps"
  elif [ "$(cat "$venv/.lane-code" 2>/dev/null)" != "$code" ]; then
    echo "bootstrap: reinstalling the project in $venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall . >&2
  fi
  echo "$code" > "$venv/.lane-code"
  rm -rf build ./*.egg-info   # what an in-tree setuptools build leaves behind
}
lane_venv newest
lane_venv oldest
# ---- end of version lanes -------------------------------------------------------------------
echo "bootstrap: ok" >&2
