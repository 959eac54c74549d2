# shellcheck shell=bash
# common.sh - helpers shared by the cxlvmm test scripts (sourced, not run).
#
# Provides:
#   ROOT, CACHE          repository root and the git-ignored cache (.cache/)
#   log MSG / die MSG    prefixed messages on stderr
#   resolve_version PKG SUITE
#                        newest version of PKG in SUITE, SUITE-security or
#                        SUITE-updates, from the local apt lists (no network)
#   fetch_deb PKG VER    download PKG=VER once into $CACHE/debs, print its path
#   extract_deb DEB DIR  dpkg-deb -x DEB into DIR
#   as_root CMD...       run CMD as root: directly when we are root, through
#                        sudo otherwise (one clear error where there is none)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${CXLVMM_CACHE:-$ROOT/.cache}
SCRIPT_NAME=$(basename "$0" .sh)

log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2
    exit 1
}

as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo -- "$@"
    else
        die "'$*' needs root: run this as root, or install sudo"
    fi
}

resolve_version() {
    local pkg=$1 suite=$2 best="" ver origin
    while IFS='|' read -r _ ver origin; do
        ver=${ver// /}
        # origin looks like " MIRROR/debian trixie/main amd64 Packages"
        [[ $origin =~ [[:space:]]${suite}(-security|-updates)?/ ]] || continue
        if [[ -z $best ]] || dpkg --compare-versions "$ver" gt "$best"; then
            best=$ver
        fi
    done < <(apt-cache madison "$pkg" 2>/dev/null)
    [[ -n $best ]] || die "package $pkg not found in suite $suite (did scripts/setup-host.sh run?)"
    printf '%s\n' "$best"
}

fetch_deb() {
    local pkg=$1 ver=$2 file tmp
    file=$(apt-cache show "$pkg=$ver" 2>/dev/null | sed -n 's/^Filename: //p' | head -n1)
    [[ -n $file ]] || die "no apt record for $pkg=$ver"
    file=$CACHE/debs/$(basename "$file")
    if [[ ! -s $file ]]; then
        mkdir -p "$CACHE/debs"
        tmp=$(mktemp -d "$CACHE/debs/.dl.XXXXXX")
        log "downloading $pkg=$ver"
        # Downloads as root are unsandboxed anyway; say so to keep apt quiet.
        if ! (cd "$tmp" && apt-get download -q=2 -o APT::Sandbox::User=root "$pkg=$ver" >&2); then
            rm -rf "$tmp"
            die "apt-get download $pkg=$ver failed"
        fi
        mv "$tmp"/*.deb "$file"
        rmdir "$tmp"
    fi
    printf '%s\n' "$file"
}

extract_deb() {
    mkdir -p "$2"
    dpkg-deb -x "$1" "$2"
}
