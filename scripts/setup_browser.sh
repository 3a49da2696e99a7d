#!/usr/bin/env bash
# The /ui page's headless browser test needs chromium and chromedriver; on Debian they come from apt.
# Never fatal: another apt (unattended-upgrades, a second shell) may hold the dpkg lock, so apt waits
# for it up to $ZKINFER_APT_LOCK_WAIT seconds (default 300), and if the browser still does not
# install, this warns and exits 0: everything else works, tests/integration/test_ui.py's browser test is skipped.
# Only where the browser is required (ZKINFER_REQUIRE_BROWSER=1, as .ci/run sets for its tests) is a
# failure an error. ZKINFER_SKIP_BROWSER=1 skips the step.
set -uo pipefail
wait_s=${ZKINFER_APT_LOCK_WAIT:-300}
say() { echo "[setup] $*"; }
skipped() {
  if [ "${ZKINFER_REQUIRE_BROWSER:-}" = 1 ]; then
    echo "[setup] error: $1; ZKINFER_REQUIRE_BROWSER=1 needs chromium and chromedriver" >&2
    exit 1
  fi
  echo "[setup] warning: $1; everything else is installed. The /ui page's browser test (tests/integration/test_ui.py) will be skipped;" \
       "install chromium and chromedriver later (Debian: apt-get install chromium chromium-driver, or rerun scripts/setup.sh)" >&2
  exit 0
}
if [ "${ZKINFER_SKIP_BROWSER:-}" = 1 ]; then
  skipped "ZKINFER_SKIP_BROWSER=1: not installing chromium"
fi
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  say "chromium and chromedriver already present (the /ui page's browser test)"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  skipped "no apt-get here to install chromium and chromedriver"
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || skipped "not root and no sudo: cannot run apt-get"
  as_root=(sudo)
fi
say "installing Debian's chromium and chromium-driver (the /ui page's headless browser test); waiting up to ${wait_s}s for another apt holding the lock"
lock=(-o "DPkg::Lock::Timeout=$wait_s")
# apt-get update takes the lists lock, which older apt does not wait for: retry it over the same time
deadline=$(( $(date +%s) + wait_s ))
until "${as_root[@]}" apt-get "${lock[@]}" update -q; do
  status=$?
  [ "$(date +%s)" -lt "$deadline" ] || skipped "apt-get update failed (exit $status; another apt held its lock for over ${wait_s}s?)"
  say "apt-get update failed (exit $status), retrying in 10s: another apt may hold the lock"
  sleep 10
done
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -q --no-install-recommends chromium chromium-driver
status=$?
[ "$status" -eq 0 ] || skipped "apt-get install chromium chromium-driver failed (exit $status; 100: another apt held the dpkg lock for over ${wait_s}s)"
say "chromium and chromedriver installed"
