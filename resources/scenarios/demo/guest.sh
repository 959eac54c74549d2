# shellcheck shell=sh
# demo/guest.sh (same as dcd/guest.sh) - inside the guest: a user-space DCD driver answers the
# device's Dynamic Capacity events as e2e.plan says, writing a pattern into
# accepted extents through /dev/mem; it runs until the host shuts the VM down
# through the API.
# shellcheck source=resources/lib/cxl.sh
. /lib/cxl.sh

check cxl-device-unbound test ! -e "$(grep -l 0x050210 /sys/bus/pci/devices/*/class | head -n 1 | xargs dirname)/driver"
check_summary guest
cxl-guest dcd-serve "$(e2e_arg e2e.window)" "$(e2e_arg e2e.seed)" "$(e2e_arg e2e.plan)" 2>&1 ||
    echo "E2E-DCD error: dcd-serve exited"
