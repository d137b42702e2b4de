# Sourced by scripts/fonts.sh and scripts/browser.sh: install Debian packages if apt can, and
# never fail the build. `apt_soft_install WHAT pkg...` runs apt-get install (root, or
# password-less sudo), trying once more after apt-get update; when apt or the rights are missing
# it calls the caller's `warn` and returns 1. The caller checks its own file afterwards.
apt_soft_install() {
    local what=$1
    shift
    if ! command -v apt-get >/dev/null 2>&1; then
        warn "apt-get is not available to install $what"
        return 1
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            warn "not root and no password-less sudo to install $what"
            return 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y -q "$@" >/dev/null 2>&1; then
        "${sudo[@]}" apt-get update -q >/dev/null 2>&1 || true
        "${sudo[@]}" apt-get install -y -q "$@" >/dev/null 2>&1 || true
    fi
}
