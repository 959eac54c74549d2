#!/usr/bin/env bash
# build-rootfs.sh - a small Debian root filesystem image for a cxlvmm guest.
#
# Usage: build-rootfs.sh [--modules DIR] [--size SIZE] [--force] [OUT]
#   OUT            write the image here (refused if it exists, unless --force);
#                  without OUT the image stays in the cache and its path is
#                  printed (treat that copy as read-only)
#   --modules DIR  copy a kernel's module directory (.../lib/modules/KVER, as
#                  `make modules_install INSTALL_MOD_PATH=...` or
#                  scripts/fetch-guest.sh leave it) into the image's
#                  /usr/lib/modules/KVER, so udev and modprobe find them
#   --size SIZE    size of the (sparse) image, as for truncate (default 1G)
#   --force        overwrite OUT
#
# The image: Debian CXLVMM_GUEST_SUITE (default trixie, the suite of the
# guest kernel) built with mmdebstrap (variant minbase) from the mirror the
# host's own apt sources use for that suite (scripts/setup-host.sh adds it),
# with systemd, udev, dbus, kmod, ndctl/cxl/daxctl, numactl, iproute2,
# procps, pciutils and e2fsprogs; no documentation, manual pages or
# translations.
# A raw ext4 file system (label "rootfs", made with `mke2fs -d`, no loop
# mount) meant to be the guest's /dev/vda:
#   * root has an empty password and is logged in automatically on the
#     serial console ttyS0 (a serial getty with --autologin root);
#   * hostname "cxlvmm-guest"; /etc/fstab mounts /dev/vda on / (ext4);
#   * masked: the apt timers (the guest usually has no network),
#     systemd-firstboot (it would ask for a locale on the console on the
#     first boot: /etc/machine-id is left empty so each copy gets its own),
#     the gettys on virtual terminals (no screen) and e2scrub_reap (no LVM);
#   * /etc and /var are marked up to date with /usr, so the first boot does
#     not rebuild the linker and hardware databases (minutes under emulation).
#
# Cached under .cache/rootfs/: the mmdebstrap tree (a tar, keyed by this
# script and the suite) and each image (keyed by that, the size and the
# module directory's listing), so a rerun only copies the image (seconds).
# Building needs root (mmdebstrap --mode=root, ownership kept in the image):
# as a user, the script runs itself through sudo and gives OUT back to that
# user. The first run installs mmdebstrap through scripts/setup-host.sh if
# it is missing. Prints ROOTFS=PATH on stdout.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$0" >&2
    exit 2
}
# bad MSG: one line on stderr, exit status 2 (nothing was changed).
bad() {
    echo "build-rootfs: $*" >&2
    exit 2
}

modules="" size=1G force=0 out=""
while [[ $# -gt 0 ]]; do
    case $1 in
    --modules | --size)
        [[ $# -ge 2 ]] || bad "$1 needs a value"
        if [[ $1 == --modules ]]; then modules=$2; else size=$2; fi
        shift 2
        ;;
    --force)
        force=1
        shift
        ;;
    -h | --help) usage ;;
    -*) bad "unknown option '$1' (see --help)" ;;
    *)
        [[ -z $out ]] || bad "one OUT only, got '$out' and '$1'"
        out=$1
        shift
        ;;
    esac
done

# Check the arguments before anything is built or asked for.
size_bytes=$(numfmt --from=iec "${size%[bB]}" 2>/dev/null) || bad "--size '$size' is not a size (e.g. 1G, 2048M)"
((size_bytes >= 256 << 20)) || bad "--size '$size' is too small (at least 256M)"
if [[ -n $modules ]]; then
    [[ -d $modules && -f $modules/modules.order ]] ||
        bad "--modules '$modules' is not a kernel module directory (no modules.order)"
    modules=$(realpath "$modules")
fi
if [[ -n $out ]]; then
    [[ ! -e $out || $force -eq 1 ]] || bad "'$out' exists (remove it, or pass --force)"
    [[ ! -d $out ]] || bad "'$out' is a directory"
    [[ -d $(dirname "$out") ]] || bad "no directory '$(dirname "$out")' for '$out'"
    out=$(realpath -m "$out")
fi

if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || die "building the image needs root: run as root, or as a user with sudo"
    log "not root: running through sudo"
    args=()
    [[ -n $modules ]] && args+=(--modules "$modules")
    [[ $force -eq 1 ]] && args+=(--force)
    [[ -n $out ]] && args+=("$out")
    exec sudo -- env CXLVMM_CACHE="$CACHE" ${CXLVMM_GUEST_SUITE:+CXLVMM_GUEST_SUITE="$CXLVMM_GUEST_SUITE"} \
        "$0" --size "$size" "${args[@]}"
fi

SUITE=${CXLVMM_GUEST_SUITE:-trixie}
GUEST_HOSTNAME=cxlvmm-guest
PACKAGES=(systemd-sysv udev dbus kmod ndctl cxl daxctl numactl iproute2 procps pciutils e2fsprogs)
dir=$CACHE/rootfs
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9

# ---- host tools and the suite's mirror -----------------------------------
# repo_uri SUITE: the archive URI the host's apt uses for SUITE (empty if none).
repo_uri() {
    # shellcheck disable=SC2016 # $(REPO_URI) is apt's format, not the shell's
    apt-get indextargets --format '$(REPO_URI)' "Release: $1" 'Created-By: Packages' 2>/dev/null |
        sort -u | head -n 1
}
if ! command -v mmdebstrap >/dev/null || ! command -v mke2fs >/dev/null || [[ -z $(repo_uri "$SUITE") ]]; then
    log "mmdebstrap, mke2fs or the $SUITE apt source missing: running scripts/setup-host.sh"
    "$ROOT/scripts/setup-host.sh" >&2
fi
mirror=$(repo_uri "$SUITE")
[[ -n $mirror ]] || die "no apt source for suite '$SUITE' on this host (scripts/setup-host.sh adds trixie)"
security=$(repo_uri "$SUITE-security")

# ---- the Debian tree (mmdebstrap), cached as a tar -------------------------
base_key=$({
    cat "$0"
    echo "$SUITE"
} | sha256sum | cut -c1-16)
base=$dir/base-$SUITE-$base_key.tar
if [[ ! -s $base ]]; then
    # A new script or suite: images built from an older tree go.
    rm -f "$dir"/base-*.tar "$dir"/rootfs-*.img
    t=$SECONDS
    sources=("deb $mirror $SUITE main")
    [[ -n $security ]] && sources+=("deb $security $SUITE-security main")
    log "mmdebstrap $SUITE (${PACKAGES[*]}) from $mirror"
    include=$(
        IFS=,
        echo "${PACKAGES[*]}"
    )
    # The hooks run on the host with the tree in "$1" (mmdebstrap's
    # convention); they are single-quoted on purpose.
    # shellcheck disable=SC2016
    mmdebstrap --quiet --mode=root --format=tar --variant=minbase --include="$include" \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        --customize-hook="echo $GUEST_HOSTNAME >\"\$1/etc/hostname\"" \
        --customize-hook="printf '127.0.0.1\tlocalhost\n127.0.1.1\t$GUEST_HOSTNAME\n::1\tlocalhost ip6-localhost ip6-loopback\n' >\"\$1/etc/hosts\"" \
        --customize-hook='printf "# <file system> <mount point> <type> <options> <dump> <pass>\n/dev/vda / ext4 rw,errors=remount-ro 0 1\n" >"$1/etc/fstab"' \
        --customize-hook='chroot "$1" passwd --quiet --delete root' \
        --customize-hook='mkdir -p "$1/etc/systemd/system/serial-getty@ttyS0.service.d" "$1/etc/systemd/system/getty.target.wants"' \
        --customize-hook='printf "[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --noreset --noclear --keep-baud 115200,57600,38400,9600 - \${TERM}\n" >"$1/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf"' \
        --customize-hook='ln -sf /usr/lib/systemd/system/serial-getty@.service "$1/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"' \
        --customize-hook='for u in apt-daily.timer apt-daily-upgrade.timer systemd-firstboot.service getty-static.service getty@tty1.service e2scrub_reap.service; do ln -sf /dev/null "$1/etc/systemd/system/$u"; done' \
        --customize-hook='t=$(date +%s); touch -d "@$t" "$1/usr" "$1/etc/.updated" "$1/var/.updated"' \
        "$SUITE" "$base.tmp" "${sources[@]}" >&2
    mv "$base.tmp" "$base"
    log "Debian tree built in $((SECONDS - t))s: $base ($(du -h "$base" | cut -f1))"
else
    log "cached: $base"
fi

# ---- the ext4 image, cached per tree, size and modules ----------------------
mod_key=none
if [[ -n $modules ]]; then
    mod_key=$(cd "$modules" && find . -printf '%P %s %T@\n' | LC_ALL=C sort | sha256sum | cut -c1-16)
fi
key=$(echo "$base_key $size_bytes ${modules:-} $mod_key" | sha256sum | cut -c1-16)
image=$dir/rootfs-$SUITE-$key.img
if [[ ! -s $image ]]; then
    t=$SECONDS
    stage=$(mktemp -d "${TMPDIR:-/tmp}/rootfs.XXXXXX")
    trap 'rm -rf "$stage"' EXIT
    tar -C "$stage" --numeric-owner --xattrs --xattrs-include='*' -xpf "$base"
    if [[ -n $modules ]]; then
        kver=$(basename "$modules")
        mkdir -p "$stage/usr/lib/modules/$kver"
        cp -a "$modules/." "$stage/usr/lib/modules/$kver/"
        # Links back into a kernel tree (build, source) mean nothing in the guest.
        rm -f "$stage/usr/lib/modules/$kver/build" "$stage/usr/lib/modules/$kver/source"
        [[ -f $stage/usr/lib/modules/$kver/modules.dep ]] || depmod -b "$stage/usr" "$kver"
        log "modules $kver from $modules"
    fi
    rm -f "$image.tmp"
    truncate -s "$size_bytes" "$image.tmp"
    mke2fs -q -F -t ext4 -L rootfs -E lazy_itable_init=0,lazy_journal_init=0 \
        -d "$stage" "$image.tmp" >&2
    mv "$image.tmp" "$image"
    rm -rf "$stage"
    trap - EXIT
    log "image built in $((SECONDS - t))s: $image ($size, $(du -h "$image" | cut -f1) used)"
    # Keep the three newest images (other sizes or module directories).
    # shellcheck disable=SC2012 # our own file names, no odd characters
    ls -t "$dir"/rootfs-*.img | tail -n +4 | xargs -r rm -f
else
    log "cached: $image"
fi

if [[ -z $out ]]; then
    printf 'ROOTFS=%s\n' "$image"
    exit 0
fi
rm -f "$out.tmp"
cp --sparse=always "$image" "$out.tmp"
if [[ -n ${SUDO_UID:-} ]]; then chown "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$out.tmp"; fi
mv -f "$out.tmp" "$out"
log "wrote $out"
printf 'ROOTFS=%s\n' "$out"
