#!/usr/bin/env bash
# inject/prepare.sh - runs on the host before the run (scripts/e2e.sh): the
# Debian root filesystem of scripts/build-rootfs.sh (cached; here a fresh
# copy), whose ndctl `cxl` the busybox guest runs in a chroot. No modules in
# the image: the busybox initramfs loads them.
set -euo pipefail
"$ROOT/scripts/build-rootfs.sh" --force "$OUT/rootfs.img" >/dev/null
echo "DRIVE=$OUT/rootfs.img"
