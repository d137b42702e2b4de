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

echo "fonts.sh: installing fonts-wqy-microhei (CJK font for posters)" >&2
# shellcheck source=scripts/apt_soft.sh
source "$(dirname "$0")/apt_soft.sh"
apt_soft_install fonts-wqy-microhei --no-install-recommends fonts-wqy-microhei || exit 0
if [ ! -f "$FONT" ]; then
    warn "fonts-wqy-microhei could not be installed"
fi
exit 0
