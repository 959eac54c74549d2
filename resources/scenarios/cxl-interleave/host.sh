#!/bin/sh
# cxl-interleave/host.sh - two Type 3 devices behind one host bridge, two
# regions interleaved 2 ways across them.
#
# The host bridge has two root ports, so its HDM decoders interleave the
# window across the devices. The first region interleaves at 256 B, below
# the host page: cxlvmm serves it through its trapped decode path. The
# second interleaves at 4 KiB: cxlvmm composes it from both backend files,
# granule by granule, into one memslot (one host mapping per granule, so
# vm.max_map_count must leave room for 131072 of them; it is raised here if
# lower, and otherwise the region stays trapped and says so in the log).
# The guest writes a pattern through a device-DAX mapping of each region;
# afterwards each pattern must be found in the two backing files, split
# granule by granule in interleave order, at each device's DPA for it.
# shellcheck source=resources/lib/check.sh
. "$LIB"
# shellcheck source=resources/lib/vm.sh
. "$(dirname "$LIB")/vm.sh"

size=$((512 << 20))
seed=0x77aa55cc0123
m0=$WORKDIR/cxl-il0.mem
m1=$WORKDIR/cxl-il1.mem
rm -f "$m0" "$m1"

maps=/proc/sys/vm/max_map_count
old_maps=$(cat $maps)
if [ "$old_maps" -lt 262144 ]; then
    echo 262144 >$maps 2>/dev/null || true
fi
echo "E2E-INFO: vm.max_map_count $(cat $maps) (was $old_maps)"

cmdline=$(l2_cmdline e2e.size=$size e2e.seed=$seed)
run_vm interleave --kernel "$KERNEL" --initramfs "$INITRAMFS" --cmdline "$cmdline" \
    --cpus 2 --memory 512M --hide-hypervisor -v \
    --memory-backend "id=m0,size=512M,kind=file,path=$m0" \
    --memory-backend "id=m1,size=512M,kind=file,path=$m1" \
    --cxl-host-bridge id=hb0 \
    --cxl-root-port id=rp0,bus=hb0 --cxl-root-port id=rp1,bus=hb0 \
    --cxl-type3 id=d0,port=rp0,volatile-memdev=m0,serial=0xa0 \
    --cxl-type3 id=d1,port=rp1,volatile-memdev=m1,serial=0xa1 \
    --cxl-fmw "targets=hb0,size=1G"
[ "$old_maps" -lt 262144 ] && echo "$old_maps" >$maps 2>/dev/null
log=$WORKDIR/interleave-cxlvmm.log

# The guest says which device sits at each interleave position.
file_of() {
    case $1 in
    0xa0) echo "$m0" ;;
    0xa1) echo "$m1" ;;
    esac
}
p0=$(file_of "$(console_value interleave pos0_serial)")
p1=$(file_of "$(console_value interleave pos1_serial)")

# split_check TAG GRANULARITY LEN: the pattern of region TAG in the files.
split_check() {
    _d0=$(console_value interleave "${1}_dpa0")
    _d1=$(console_value interleave "${1}_dpa1")
    if [ -z "$p0" ] || [ -z "$p1" ] || [ "$p0" = "$p1" ] || [ -z "$_d0" ] || [ -z "$_d1" ]; then
        check_fail "$1-host-pattern-split-by-granularity" "guest reported no interleave positions or DPAs"
        return
    fi
    check "$1-host-pattern-split-by-granularity" \
        "$CXL_GUEST" interleave-check "$2" "$3" "$seed" "$p0:$_d0" "$p1:$_d1"
    # Neither file holds the pattern contiguously (it really is split).
    if "$CXL_GUEST" file-check "$p0" "$_d0" "$3" "$seed" >/dev/null 2>&1; then
        check_fail "$1-host-pattern-not-contiguous" "position 0's file holds all of it"
    else
        check_pass "$1-host-pattern-not-contiguous"
    fi
}
split_check il256 256 65536
split_check il4k 4096 1048576

# How cxlvmm reached each region: its log line (once per region, at -v).
path_of() {
    _hpa=$(console_value interleave "${1}_hpa")
    [ -n "$_hpa" ] && grep -a "CXL: $_hpa+0x20000000 interleaved: " "$log" | tail -n 1
}
line=$(path_of il4k)
echo "E2E-INFO: 4 KiB region: ${line#*CXL: }"
if has "$line" "composed from 131072 host mappings into one memslot" &&
    grep -aq "mapped composed $(console_value interleave il4k_hpa)+0x20000000" "$log"; then
    check_pass il4k-composed-memslot
else
    check_fail il4k-composed-memslot "log: ${line:-no line for the region}"
fi
line=$(path_of il256)
echo "E2E-INFO: 256 B region: ${line#*CXL: }"
if has "$line" "trapped: interleave granularity 256 is below the 4096-byte host page"; then
    check_pass il256-trapped
else
    check_fail il256-trapped "log: ${line:-no line for the region}"
fi

if ! check_summary host; then
    vm_failed interleave
    exit 1
fi
