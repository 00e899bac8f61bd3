#!/bin/bash
# The test command: installs what the tests need (tests/bootstrap.sh), then runs
# lint, types and every test: unit, fuzz, the namespace lab with real FRR, BIND
# and ExaBGP (4.2 from Debian and 5.0 from PyPI), and the Debian package.
# Needs root (namespaces, packages). Extra arguments go to pytest, e.g.
#   tests/run.sh -m "not lab and not package and not fuzz"    # quick, no root needed
# A full run (root, no arguments) ends with the version lanes; one lane alone:
#   tests/run.sh --lane newest      # or oldest, or trixie (Debian 13's packages)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  bash tests/bootstrap.sh
fi
export PYTHONDONTWRITEBYTECODE=1

# ---- version lanes (helper netlink) -------------------------------------------------------
# A lane is a venv of tests/bootstrap.sh (.venv-newest: the newest releases, ExaBGP 5.0;
# .venv-oldest: the oldest pyproject.toml allows, ExaBGP 4.2.21). Its python runs the
# unit suite, and (SPEAKER_PYTHON, tests/lab/lanes.py) the speaker, speakerctl and its
# own ExaBGP in the key lab tests: announce, ExaBGP killed and stopped, DNS health,
# speaker crash (respawn) and hang (watchdog), address re-added, drain.
lane_e2e() {  # EXABGP-SERIES
  echo "tests/e2e/test_lab_announce.py::test_ecmp_forms_exabgp_kill_drops_path_teardown_is_clean[$1]"
  echo "tests/e2e/test_speaker_exabgp.py::test_route_follows_dns_health_under_real_exabgp[$1]"
  echo "tests/e2e/fault_matrix/test_processes.py::test_speaker_sigkill_withdrawn_at_once_respawned_announced_after_rise"
  echo "tests/e2e/fault_matrix/test_processes.py::test_speaker_sigstop_watchdog_withdraws_and_kills_it"
  echo "tests/e2e/fault_matrix/test_processes.py::test_exabgp_sigterm_speaker_withdraws_and_exits[$1]"
  echo "tests/e2e/fault_matrix/test_address.py::test_address_removed_manage_true_readded_and_announced"
  echo "tests/e2e/test_lab_faults.py::test_speaker_maintenance_drain_loses_no_query"
}
run_lane() {  # NAME
  if [ "$1" = trixie ]; then run_trixie_lane; return; fi
  local python=$PWD/.venv-$1/bin/python start=$SECONDS series rc=0
  echo "== lane $1: the installed copy starts ($python -I, from /)" >&2
  (cd / && "$python" -I -m speaker --version && "${python%/python}/speakerctl" --help >/dev/null)
  echo "== lane $1: unit suite" >&2
  "$python" -m pytest -q -p no:cacheprovider -m "not fuzz" tests/unit || rc=$?
  series=$(SPEAKER_PYTHON=$python /usr/bin/python3 -c \
    'from tests.lab.lanes import DEFAULT_EXABGP; print(DEFAULT_EXABGP)')
  echo "== lane $1: key lab tests (ExaBGP $series from the lane's venv)" >&2
  mapfile -t tests < <(lane_e2e "$series")
  SPEAKER_PYTHON=$python /usr/bin/python3 -m pytest -q -p no:cacheprovider "${tests[@]}" || rc=$?
  echo "== lane $1: $((SECONDS - start)) s, $([ "$rc" = 0 ] && echo passed || echo FAILED)" >&2
  return "$rc"
}
# Lane (d), Debian 13's packages: the same unit suite and lab tests with trixie's python3
# 3.13, python3-exabgp 4.2.25, FRR 10 and BIND 9.20, in a cached Debian 13 root run (not booted)
# by systemd-nspawn --private-network (tests/packaging/lane_trixie.py; helper trixie).
run_trixie_lane() {
  local start=$SECONDS rc=0
  mapfile -t tests < <(lane_e2e 4.2)
  tests+=(tests/e2e/test_named_kill_timing.py)  # BIND 9.20's dead server, a few samples
  /usr/bin/python3 -m tests.packaging.lane_trixie "${tests[@]}" || rc=$?
  echo "== lane trixie: $((SECONDS - start)) s, $([ "$rc" = 0 ] && echo passed || echo FAILED)" >&2
  return "$rc"
}
if [ "${1:-}" = --lane ]; then
  run_lane "${2:?--lane needs newest, oldest or trixie}"
  exit
fi
# ---- end of version lanes -------------------------------------------------------------------

echo "== ruff" >&2
.venv-tools/bin/ruff check speaker tests
echo "== mypy" >&2
.venv-tools/bin/mypy speaker
echo "== lint-imports (the layers of ARCHITECTURE.md)" >&2
.venv-tools/bin/lint-imports
echo "== pytest" >&2
status=0
/usr/bin/python3 -m pytest -m "not bench" -p no:cacheprovider "$@" || status=$?
# A lab run that died half-way leaves nothing behind for the next one.
if [ "$(id -u)" = 0 ]; then
  /usr/bin/python3 -m tests.lab down >/dev/null 2>&1 || true
  full=1  # a full run: no arguments but -v (as .ci/run passes)
  for arg in "$@"; do [ "$arg" = -v ] || full=0; done
  if [ "$full" = 1 ]; then  # the version lanes run in a full run only
    run_lane newest || status=$?
    run_lane oldest || status=$?
    run_lane trixie || status=$?
  fi
fi
exit "$status"
