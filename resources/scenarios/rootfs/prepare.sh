#!/usr/bin/env bash
# rootfs/prepare.sh - runs on the host before the run (scripts/e2e.sh):
# builds the Debian root filesystem with scripts/build-rootfs.sh (cached;
# here a fresh copy the guest may write) and names it as the run's drive.
# With Debian's kernel as L2 its modules go into the image; a kernel of your
# own (CXLVMM_E2E_L2_KERNEL) must have what the scenario needs built in.
set -euo pipefail
args=(--force)
[[ $L2_KERNEL == "$KERNEL" ]] && args+=(--modules "$MODDIR")
"$ROOT/scripts/build-rootfs.sh" "${args[@]}" "$OUT/rootfs.img" >/dev/null
echo "DRIVE=$OUT/rootfs.img"
