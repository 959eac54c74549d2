#!/bin/sh
# rootfs/after.sh - on the host once the run is over (scripts/e2e.sh): the
# file the guest wrote under its root file system is in the image, read with
# debugfs (no mount), and the guest's systemd unmounted the file system on
# poweroff (no journal left to recover) and left it consistent.
# shellcheck source=resources/lib/check.sh
. "$LIB"
PATH=$PATH:/usr/sbin:/sbin

img=${E2E_DRIVES%% *}
token=$(sed -n 's/.*E2E-INFO: rootfs marker token \([0-9a-f]*\).*/\1/p' "$E2E_CONSOLE" | tail -n 1)
check after/run-token test -n "$token"
check_eq after/image-has-guest-file "$(debugfs -R 'cat /root/cxlvmm-e2e-marker' "$img" 2>/dev/null)" \
    "cxlvmm-e2e $token"
sb=$(dumpe2fs -h "$img" 2>/dev/null)
features=$(echo "$sb" | sed -n 's/^Filesystem features: *//p')
check_eq after/image-state-clean "$(echo "$sb" | sed -n 's/^Filesystem state: *//p')" clean
if has " $features " " needs_recovery "; then
    check_fail after/image-unmounted "the journal needs recovery: the guest did not unmount its root"
else
    check_pass after/image-unmounted
fi
check after/image-fsck-clean e2fsck -fn "$img"
check_summary after
