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

if ! command -v apt-get >/dev/null 2>&1; then
    warn "apt-get is not available to install chromium"
    exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        warn "not root and no password-less sudo to install chromium"
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
echo "browser.sh: installing chromium and chromium-driver (apt) for the H5 browser tests" >&2
if ! "${SUDO[@]}" apt-get install -y -q chromium chromium-driver fonts-wqy-microhei >/dev/null 2>&1; then
    "${SUDO[@]}" apt-get update -q >/dev/null 2>&1 || true
    "${SUDO[@]}" apt-get install -y -q chromium chromium-driver fonts-wqy-microhei >/dev/null 2>&1 || true
fi
if [ ! -x "$BROWSER" ]; then
    warn "chromium could not be installed"
fi
exit 0
