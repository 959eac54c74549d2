#!/bin/sh
# cxl-interleave/host.sh - two Type 3 devices behind one host bridge, a
# region interleaved 2 ways across them.
#
# The host bridge has two root ports, so its HDM decoders interleave the
# window across the devices; the path is not 1-way, so cxlvmm serves it
# through its emulated decode path. The guest writes a pattern through a
# device-DAX mapping of the region; afterwards the pattern must be found in
# the two backing files, split granule by granule in interleave order.
# shellcheck source=resources/lib/check.sh
. "$LIB"
# shellcheck source=resources/lib/vm.sh
. "$(dirname "$LIB")/vm.sh"

size=$((512 << 20))
gran=256
len=65536
seed=0x77aa55cc0123
m0=$WORKDIR/cxl-il0.mem
m1=$WORKDIR/cxl-il1.mem
rm -f "$m0" "$m1"

cmdline=$(l2_cmdline e2e.size=$size e2e.gran=$gran e2e.len=$len e2e.seed=$seed)
run_vm interleave --kernel "$KERNEL" --initramfs "$INITRAMFS" --cmdline "$cmdline" \
    --cpus 2 --memory 512M --hide-hypervisor \
    --memory-backend "id=m0,size=256M,kind=file,path=$m0" \
    --memory-backend "id=m1,size=256M,kind=file,path=$m1" \
    --cxl-host-bridge id=hb0 \
    --cxl-root-port id=rp0,bus=hb0 --cxl-root-port id=rp1,bus=hb0 \
    --cxl-type3 id=d0,port=rp0,volatile-memdev=m0,serial=0xa0 \
    --cxl-type3 id=d1,port=rp1,volatile-memdev=m1,serial=0xa1 \
    --cxl-fmw "targets=hb0,size=512M"

# The guest says which device sits at each interleave position.
file_of() {
    case $1 in
    0xa0) echo "$m0" ;;
    0xa1) echo "$m1" ;;
    esac
}
p0=$(file_of "$(console_value interleave pos0_serial)")
p1=$(file_of "$(console_value interleave pos1_serial)")
if [ -n "$p0" ] && [ -n "$p1" ] && [ "$p0" != "$p1" ]; then
    check host-pattern-split-by-granularity \
        "$CXL_GUEST" interleave-check "$gran" "$len" "$seed" "$p0:0" "$p1:0"
    # Neither file holds the pattern contiguously (it really is split).
    if "$CXL_GUEST" file-check "$p0" 0 "$len" "$seed" >/dev/null 2>&1; then
        check_fail host-pattern-not-contiguous "position 0's file holds all of it"
    else
        check_pass host-pattern-not-contiguous
    fi
else
    check_fail host-pattern-split-by-granularity "guest reported no interleave positions"
fi

if ! check_summary host; then
    vm_failed interleave
    exit 1
fi
