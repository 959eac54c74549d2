#!/usr/bin/env bash
# setup-host.sh - prepare a Debian bookworm host for cxlvmm's end-to-end tests.
#
# Run as root. Idempotent: safe to rerun, it only changes what is missing.
#   * adds apt sources for trixie (+ trixie-security) and bookworm-backports,
#     from the mirrors the host's own apt sources already use for bookworm
#     and bookworm-security (no archive host is written here),
#     pinned LOW (trixie: 1, backports: 100) so that nothing already
#     installed is ever upgraded from them; trixie is only used for
#     `apt-get download` of guest kernels, busybox and iasl;
#   * apt-get update;
#   * installs qemu-system-x86 from bookworm-backports (QEMU >= 10, needed for
#     nested SVM under TCG) with --no-install-recommends;
#   * installs the small host tools the harness needs from bookworm (cpio,
#     xz, zstd, kmod's depmod, readelf, libc6-dev for crt-static builds, and
#     mmdebstrap and e2fsprogs for scripts/build-rootfs.sh).
set -euo pipefail

SOURCES=/etc/apt/sources.list.d/cxlvmm-e2e.sources
PREFS=/etc/apt/preferences.d/cxlvmm-e2e.pref
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
HOST_PACKAGES=(cpio gzip xz-utils zstd kmod coreutils util-linux binutils libc6-dev mmdebstrap e2fsprogs)

log() { printf 'setup-host: %s\n' "$*"; }

if [[ $EUID -ne 0 ]]; then
    echo "setup-host: must run as root" >&2
    exit 1
fi

# write_if_changed FILE: write stdin to FILE only when the content differs.
write_if_changed() {
    local file=$1 tmp
    tmp=$(mktemp)
    cat >"$tmp"
    if [[ -f $file ]] && cmp -s "$tmp" "$file"; then
        rm -f "$tmp"
        log "unchanged $file"
        return 1
    fi
    install -m 0644 "$tmp" "$file"
    rm -f "$tmp"
    log "wrote $file"
    return 0
}

# host_uri SUITE: the URI the host's own apt sources (deb822 .sources files
# and one-line .list files, ours left out) use for SUITE; empty if none does.
host_uri() {
    local want=$1 f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f && $f != "$SOURCES" ]] || continue
        # deb822: stanzas separated by blank lines; URIs and Suites fields.
        awk -v want="$want" '
            function flush() { if (uri != "" && hit) { print uri; found = 1; exit } uri = ""; hit = 0 }
            /^[[:space:]]*$/ { flush(); next }
            /^[[:space:]]*#/ { next }
            tolower($1) == "uris:" { uri = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == want) hit = 1 }
            tolower($1) == "enabled:" && tolower($2) == "no" { uri = ""; hit = 0 }
            END { if (!found) flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        # One-line style: deb [options] URI SUITE COMPONENT...
        sed -E 's/\[[^]]*\]//' "$f" | awk -v want="$want" '$1 == "deb" && $3 == want { print $2 }'
    done
}

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[[ $codename == bookworm ]] || log "warning: this host is '${codename:-unknown}', not bookworm; going on"
archive=$(host_uri "$codename" | head -n 1)
security=$(host_uri "$codename-security" | head -n 1)
[[ -n $archive ]] || {
    echo "setup-host: no apt source for '$codename' in /etc/apt: cannot tell which Debian mirror to use" >&2
    exit 1
}
# A host without a security source: the security archive sits beside the
# main one on Debian's mirrors (".../debian" -> ".../debian-security").
[[ -n $security ]] || security=${archive%/}-security
log "mirrors from the host's apt sources: $archive, $security"

changed=0
if write_if_changed "$SOURCES" <<EOF; then changed=1; fi
# Added by cxlvmm scripts/setup-host.sh: guest kernels, busybox and iasl come
# from trixie (downloaded, never installed); QEMU comes from bookworm-backports.
Types: deb
URIs: $archive
Suites: trixie bookworm-backports
Components: main
Signed-By: $KEYRING

Types: deb
URIs: $security
Suites: trixie-security
Components: main
Signed-By: $KEYRING
EOF

if write_if_changed "$PREFS" <<'EOF'; then changed=1; fi
# Added by cxlvmm scripts/setup-host.sh: never upgrade installed packages from
# these suites. Packages are only taken from them when explicitly requested.
Package: *
Pin: release n=trixie
Pin-Priority: 1

Package: *
Pin: release n=trixie-security
Pin-Priority: 1

Package: *
Pin: release n=bookworm-backports
Pin-Priority: 100
EOF

# Refresh the package lists when the sources changed or are older than a day.
stamp=$(find /var/lib/apt/lists -maxdepth 1 -name '*_dists_trixie_InRelease' -print -quit 2>/dev/null)
if [[ $changed -eq 1 || -z $stamp || -n $(find "$stamp" -mtime +0 -print) ]]; then
    log "apt-get update"
    apt-get update -q
else
    log "package lists are fresh, skipping apt-get update"
fi

export DEBIAN_FRONTEND=noninteractive

missing=()
for pkg in "${HOST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing from bookworm: ${missing[*]}"
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    log "host tools already installed: ${HOST_PACKAGES[*]}"
fi

qemu_version() { qemu-system-x86_64 --version 2>/dev/null | sed -n '1s/.*version \([0-9.]*\).*/\1/p'; }
qv=$(qemu_version || true)
if [[ -z $qv || ${qv%%.*} -lt 10 ]]; then
    log "installing qemu-system-x86 from bookworm-backports (found: ${qv:-none})"
    apt-get install -y -q --no-install-recommends -t bookworm-backports qemu-system-x86
    qv=$(qemu_version)
else
    log "qemu-system-x86_64 $qv already installed"
fi

log "done: qemu-system-x86_64 $qv"
log "installed packages were not upgraded (trixie pinned to 1, backports to 100)"
