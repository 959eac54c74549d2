# shellcheck shell=sh
# rootfs/rootfs-checks.sh - the checks inside the booted Debian root (run by
# /bin/sh, the image's dash, from cxlvmm-e2e.service; stdin and stdout are the
# serial console). Everything here is the image's own: systemd, udev and
# kmod (which loaded the CXL modules from the image's /usr/lib/modules), and
# ndctl's cxl and daxctl, numactl and awk.
#
# Kernel command line: e2e.token (this run's random token), e2e.size and
# e2e.serial (the Type 3 device).
# shellcheck source=resources/lib/check.sh
. /usr/local/lib/cxlvmm-e2e/check.sh
# shellcheck source=resources/lib/cxl.sh
. /usr/local/lib/cxlvmm-e2e/cxl.sh

token=$(e2e_arg e2e.token)
size=$(e2e_arg e2e.size)
serial=$(e2e_arg e2e.serial)
node=/sys/devices/system/node/node1

# ---- the system: the image's systemd on the virtio disk ------------------------
. /etc/os-release
check_eq debian-root "$ID $VERSION_CODENAME" "debian trixie"
check_eq root-is-vda "$(findmnt -n -o SOURCE,FSTYPE /)" "/dev/vda ext4"
check_eq root-read-write "$(findmnt -n -o OPTIONS / | cut -d, -f1)" rw
check_eq pid1-is-systemd "$(cat /proc/1/comm)" systemd
check_eq hostname "$(hostname)" cxlvmm-guest
# Debian's kernel: its modules are in the image (build-rootfs.sh --modules)
# and udev loaded the CXL ones from there. A kernel of your own has them
# built in.
if [ -f "/lib/modules/$(uname -r)/modules.dep" ]; then
    check_eq image-modules "$(modinfo -F filename cxl_pci 2>&1)" \
        "/lib/modules/$(uname -r)/kernel/drivers/cxl/cxl_pci.ko.xz"
else
    echo "E2E-INFO: no modules for $(uname -r) in the image: the kernel has what it needs built in"
fi
echo "E2E-INFO: $PRETTY_NAME, kernel $(uname -r), $(systemctl --version | head -n 1)"
echo "E2E-INFO: $(cxl version 2>&1 | sed 's/^/cxl /') $(daxctl version 2>&1 | sed 's/^/daxctl /') $(numactl --version 2>&1 | head -n 1)"

# ---- cxl list: the memory device, found through udev's module loading ----------
check cxl-memdev-bound wait_for $CXL/mem0 60
list=$(cxl list -M 2>&1)
echo "E2E-INFO: cxl list -M: $(echo "$list" | tr -d ' \n')"
check cxl-list-shows-mem0 has "$list" '"memdev":"mem0"'
check_eq cxl-list-ram-size "$(echo "$list" | sed -n 's/.*"ram_size":\([0-9]*\).*/\1/p')" "$size"
got_serial=$(echo "$list" | sed -n 's/.*"serial":"\{0,1\}\([0-9a-fx]*\).*/\1/p')
check_eq cxl-list-serial "$((got_serial))" "$((serial))"

# ---- cxl create-region: a RAM region, onlined as NUMA node 1 -----------------
ep_dec=$(endpoint_decoder mem0)
out=$(cxl create-region -t ram -d decoder0.0 -m mem0 2>&1)
region=$(echo "$out" | sed -n 's/.*"region":"\(region[0-9]*\)".*/\1/p' | head -n 1)
if [ -n "$region" ]; then
    check_pass cxl-create-region
else
    check_fail cxl-create-region "$out"
fi
check_eq region-size "$(($(cat $CXL/"$region"/size 2>/dev/null || echo -1)))" "$size"
check_eq region-committed "$(cat $CXL/"$region"/commit 2>/dev/null)" 1
check_eq endpoint-decoder-size "$(($(cat $CXL/"$ep_dec"/size 2>/dev/null || echo -1)))" "$size"
check numa-node1 wait_for $node/meminfo 30
dax=""
for d in "$CXL/$region"/dax_region*; do [ -e "$d" ] && dax=dax${d##*dax_region}.0; done
# kmem adds the memory; the kernel onlines it (memhp_default_state), daxctl
# onlines whatever it did not.
n=300
while [ ! -e "/sys/bus/dax/devices/$dax" ] && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
daxl=$(daxctl list -d "$dax" 2>&1)
case $daxl in
*'"online_memblocks"'*) ;;
*) sleep 1 && daxl=$(daxctl list -d "$dax" 2>&1) ;;
esac
online=$(echo "$daxl" | sed -n 's/.*"online_memblocks":\([0-9]*\).*/\1/p')
total=$(echo "$daxl" | sed -n 's/.*"total_memblocks":\([0-9]*\).*/\1/p')
[ -n "$online" ] && [ "$online" != "$total" ] && daxctl online-memory "$dax" >/dev/null 2>&1 &&
    daxl=$(daxctl list -d "$dax" 2>&1)
echo "E2E-INFO: daxctl list: $(echo "$daxl" | tr -d ' \n')"
check daxctl-system-ram has "$daxl" '"mode":"system-ram"'
online=$(echo "$daxl" | sed -n 's/.*"online_memblocks":\([0-9]*\).*/\1/p')
total=$(echo "$daxl" | sed -n 's/.*"total_memblocks":\([0-9]*\).*/\1/p')
check daxctl-all-online test -n "$total" -a "$total" -gt 0 -a "$online" = "$total"
check_eq node1-memtotal "$(sed -n 's/.*MemTotal: *\([0-9]*\) kB/\1/p' $node/meminfo)" "$((size / 1024))"
hw=$(numactl -H 2>&1)
check_eq numactl-node1-size "$(echo "$hw" | sed -n 's/^node 1 size: //p')" "$((size >> 20)) MB"
echo "E2E-INFO: $region: $(cat $CXL/"$region"/resource)+$(cat $CXL/"$region"/size) -> $dax -> node1; numactl -H: $(echo "$hw" | grep -E '^node [01] size' | tr '\n' ' ')"

# ---- a write through node 1 lands in the device's backend file ----------------
# 256 blocks of 4 KiB in a tmpfs file whose pages numactl binds to node 1,
# each starting with a line naming this run's token and its number.
# cxlvmm does not serve disk I/O into CXL memory yet (the request fails), so
# awk and its libraries are read into the page cache (node 0) first: bound to
# node 1, it must not fault anything in from the disk.
pattern='BEGIN {
    pad = sprintf("%4096s", "")
    for (i = 0; i < 256; i++) {
        s = sprintf("cxlvmm-rootfs %s block %03d\n", t, i)
        printf "%s%s", s, substr(pad, 1, 4096 - length(s))
    }
}'
awk -v t=warm-up "$pattern" >/dev/null
shm_before=$(sed -n 's/.*Shmem: *\([0-9]*\) kB/\1/p' $node/meminfo)
numactl --membind=1 awk -v t="$token" "$pattern" >/dev/shm/cxlvmm-e2e-pattern
check_eq pattern-file-size "$(stat -c %s /dev/shm/cxlvmm-e2e-pattern)" 1048576
# Fold the per-CPU counters into the node's before reading them.
echo 1 >/proc/sys/vm/stat_refresh
shm_after=$(sed -n 's/.*Shmem: *\([0-9]*\) kB/\1/p' $node/meminfo)
check node1-holds-pattern test "$((shm_after - shm_before))" -ge 1024
echo "E2E-ROOTFS: pattern written on node1 (Shmem ${shm_before} -> ${shm_after} kB)"
# The host reads the backend file now and answers with one line.
# (--foreground: head must stay in the console's foreground process group.)
answer=$(timeout --foreground 300 head -n 1)
echo "E2E-INFO: host answered '$answer'"
rm -f /dev/shm/cxlvmm-e2e-pattern

# ---- cxl destroy-region: memory offlined, decoders back to zero ---------------
check cxl-disable-region cxl disable-region "$region"
check cxl-destroy-region cxl destroy-region "$region"
check region-gone test ! -e "$CXL/$region"
check_eq endpoint-decoder-size-zero "$(($(cat $CXL/"$ep_dec"/size 2>/dev/null || echo -1)))" 0
check_eq endpoint-decoder-dpa-size-zero "$(($(cat $CXL/"$ep_dec"/dpa_size 2>/dev/null || echo -1)))" 0
check_eq node1-memory-gone "$(sed -n 's/.*MemTotal: *\([0-9]*\) kB/\1/p' $node/meminfo 2>/dev/null || echo 0)" 0
regions=$(cxl list -R 2>/dev/null)
if has "$regions" '"region":'; then
    check_fail cxl-list-no-region "$regions"
else
    check_pass cxl-list-no-region
fi
check_eq no-cxl-errors "$(cxl_errors)" ""

# ---- a file on the root file system, for the host to find in the image -------
echo "cxlvmm-e2e $token" >/root/cxlvmm-e2e-marker
check marker-written sync /root/cxlvmm-e2e-marker
check_summary guest
# Let the console send all of it before the getty opens it (which flushes
# what is still queued): stty sets the same modes after the output drained.
stty "$(stty -g)"
# The verdict is on the console; the unit itself succeeds either way.
exit 0
