#!/usr/bin/env bash
# Install a CJK font for the share posters (distributors/poster.py): Debian's fonts-wqy-microhei.
# Skips when the font is already there. Never fails the build: without apt (or root/sudo) it
# warns, and the posters fall back to Pillow's default font (Chinese text then does not render).
# Point FONT_PATH at another .ttf/.ttc to use a different font.
set -u

FONT=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc

if [ -n "${FONT_PATH:-}" ] && [ -f "${FONT_PATH}" ]; then
    exit 0
fi
if [ -f "$FONT" ]; then
    exit 0
fi

warn() { echo "fonts.sh: WARNING: $*; posters will use Pillow's default font (no Chinese glyphs)" >&2; }

if ! command -v apt-get >/dev/null 2>&1; then
    warn "apt-get is not available to install fonts-wqy-microhei"
    exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        warn "not root and no password-less sudo to install fonts-wqy-microhei"
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
echo "fonts.sh: installing fonts-wqy-microhei (CJK font for posters)" >&2
if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends fonts-wqy-microhei >/dev/null 2>&1; then
    "${SUDO[@]}" apt-get update -q >/dev/null 2>&1 || true
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends fonts-wqy-microhei >/dev/null 2>&1 || true
fi
if [ ! -f "$FONT" ]; then
    warn "fonts-wqy-microhei could not be installed"
fi
exit 0
