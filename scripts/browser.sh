#!/usr/bin/env bash
# The browser of the H5 browser tests (tests/h5/browser/): Debian's headless Chromium
# (/usr/bin/chromium) and its driver, installed with apt when missing. Playwright for Python
# drives this system browser (executable_path); Playwright's own browser builds are never
# downloaded. Idempotent; never fails the build: without apt (or root / sudo) it warns, and the
# browser tests skip with that reason. CHROMIUM_PATH points at another Chromium binary.
set -u

BROWSER=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ -x "$BROWSER" ]; then
    exit 0
fi

warn() { echo "browser.sh: WARNING: $*; the H5 browser tests will be skipped" >&2; }

echo "browser.sh: installing chromium and chromium-driver (apt) for the H5 browser tests" >&2
# shellcheck source=scripts/apt_soft.sh
source "$(dirname "$0")/apt_soft.sh"
apt_soft_install chromium chromium chromium-driver fonts-wqy-microhei || exit 0
if [ ! -x "$BROWSER" ]; then
    warn "chromium could not be installed"
fi
exit 0
