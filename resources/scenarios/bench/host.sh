#!/bin/sh
# bench/host.sh - the same Linux guest under cxlvmm and under QEMU (with KVM),
# with an equivalent CXL topology, measured from inside (scripts/bench.sh).
#
# Topology in both VMMs, one host bridge per line, windows in this order:
#   hb0: one root port, static Type 3 device (256 MiB, serial 0x5a)
#   hb1: two root ports, devices 0xa0 and 0xa1 (512 MiB each): the guest makes
#        a 2-way region at 4 KiB and one at 256 B granularity (512 MiB each)
#   hb2: one root port, a DCD device (serial 0xdcd, one 2 GiB DC region
#        backed by the device's own DC memory)
# The guest (guest.sh) measures RAM, static and interleaves, then starts
# cxl-guest dcd-serve; this script offers the bandwidth extent (DPA 0,
# BENCH_DC_LEN, at most 256 MiB) and, once the guest has measured it, times Add DC Response
# and Release DC for 2 MiB and 1 GiB extents (in cxlvmm each with its own
# tagged backend, so release frees it) and adding N extents (cxlvmm: one
# request naming all N; QEMU: one request each).
#
# Output: "E2E-BENCH: vmm=V kind=K ..." lines (scripts/bench.sh collects them):
#   kind=bw path=P bytes=B passes=N read=MB/s write=MB/s memcpy=MB/s
#   kind=path path=P mode=memslot|trapped|emulated
#   kind=dc op=add|release size=S respond_us=U e2e_ms=M [backend_free=yes|no]
#   kind=dcn n=N requests=R e2e_ms=M
#   kind=note path=P text=...
# Settings (environment, or /e2e/bench.env when nested): BENCH_MAXLEN,
# BENCH_BUDGET_MS, BENCH_PASSES, BENCH_DC_LEN, BENCH_DC_REPS, BENCH_DC_NS,
# BENCH_VMMS, BENCH_QEMU (command), BENCH_QEMU_DATA (its -L directory),
# BENCH_QEMU_ACCEL, BENCH_QEMU_CPU.
# shellcheck source=resources/lib/check.sh
. "$LIB"
# shellcheck source=resources/lib/vm.sh
. "$(dirname "$LIB")/vm.sh"
# shellcheck source=/dev/null
[ -f /e2e/bench.env ] && . /e2e/bench.env

maxlen=${BENCH_MAXLEN:-33554432}
budget=${BENCH_BUDGET_MS:-500}
passes=${BENCH_PASSES:-3}
dc_len=${BENCH_DC_LEN:-67108864}
[ "$dc_len" -le $((256 << 20)) ] || dc_len=$((256 << 20))
dc_ns=${BENCH_DC_NS:-1 16 256}
reps=${BENCH_DC_REPS:-3}
vmms=${BENCH_VMMS:-cxlvmm qemu}
qemu=${BENCH_QEMU:-qemu-system-x86_64}
M=1048576

emit() {
    echo "E2E-BENCH: vmm=$*"
}
now_ms() {
    _u=$(cut -d' ' -f1 /proc/uptime)
    echo $((${_u%.*} * 1000 + 1${_u#*.}0 - 1000))
}

# ---- the L1 (or direct) host itself: the physical limit ----------------------
"$CXL_GUEST" bench ram anon 0 "$maxlen" "$budget" "$passes" | sed 's/^E2E-BENCH: /E2E-BENCH: vmm=host /'

# ---- per-VMM operations ---------------------------------------------------------
sock=$WORKDIR/api.sock
qsock=$WORKDIR/qmp.sock
r() { "$CXLVMM_REMOTE" --api-socket "$sock" --json "$@" 2>&1; }
qmp() { "$CXL_GUEST" qmp "$qsock" "$@" 2>&1; }

# dc_add VMM OFFSET LEN [TAG]: offer one extent (byte offset and length).
dc_add() {
    if [ "$1" = cxlvmm ]; then
        r dc-add dcd0 --region 0 ${4:+--tag "$4"} --extent "$(($2 / M))M:$(($3 / M))M"
    else
        qmp "{\"execute\":\"cxl-add-dynamic-capacity\",\"arguments\":{\"path\":\"/machine/peripheral/dcd0\",\"host-id\":0,\"selection-policy\":\"prescriptive\",\"region\":0,\"extents\":[{\"offset\":$2,\"len\":$3}]}}"
    fi
}
# dc_release VMM OFFSET LEN [TAG]: ask the guest to release one extent.
dc_release() {
    if [ "$1" = cxlvmm ]; then
        if [ -n "${4:-}" ]; then
            r dc-release dcd0 --region 0 --tag "$4"
        else
            r dc-release dcd0 --region 0 --policy prescriptive --extent "$(($2 / M))M:$(($3 / M))M"
        fi
    else
        qmp "{\"execute\":\"cxl-release-dynamic-capacity\",\"arguments\":{\"path\":\"/machine/peripheral/dcd0\",\"host-id\":0,\"removal-policy\":\"prescriptive\",\"region\":0,\"extents\":[{\"offset\":$2,\"len\":$3}]}}"
    fi
}
vm_shutdown() {
    if [ "$1" = cxlvmm ]; then r shutdown >/dev/null; else qmp '{"execute":"quit"}' >/dev/null; fi
}
# respond_us VMM WHAT DPA: the guest's respond time on its "WHAT dpa=DPA" line.
respond_us() {
    tr -d '\r' <"$WORKDIR/$1-console.log" |
        sed -n "s/.*E2E-DCD $2 dpa=$3 .*respond_us=\([0-9]*\).*/\1/p" | tail -n 1
}

start_cxlvmm() {
    rm -f "$sock"
    # The 4 KiB interleave (512 MiB) is composed of 131072 host mappings:
    # leave room for them under vm.max_map_count, or it stays trapped.
    if [ "$(cat /proc/sys/vm/max_map_count)" -lt 262144 ]; then
        echo 262144 >/proc/sys/vm/max_map_count 2>/dev/null || true
    fi
    start_vm cxlvmm --kernel "$KERNEL" --initramfs "$INITRAMFS" --cmdline "$1" \
        --cpus 1 --memory 512M --hide-hypervisor -v --api-socket "$sock" \
        --memory-backend id=sm,size=256M \
        --memory-backend id=im0,size=512M --memory-backend id=im1,size=512M \
        --memory-backend id=dcm,size=2G \
        --cxl-host-bridge id=hb0 --cxl-root-port id=rp0,bus=hb0 \
        --cxl-type3 id=s0,port=rp0,volatile-memdev=sm,serial=0x5a \
        --cxl-host-bridge id=hb1 --cxl-root-port id=rp1,bus=hb1 --cxl-root-port id=rp2,bus=hb1 \
        --cxl-type3 id=i0,port=rp1,volatile-memdev=im0,serial=0xa0 \
        --cxl-type3 id=i1,port=rp2,volatile-memdev=im1,serial=0xa1 \
        --cxl-host-bridge id=hb2 --cxl-root-port id=rp3,bus=hb2 \
        --cxl-type3 id=dcd0,port=rp3,dc-regions=1,dc-regions-total-size=2G,dc-memdev=dcm,serial=0xdcd \
        --cxl-fmw targets=hb0,size=256M --cxl-fmw targets=hb1,size=1G --cxl-fmw targets=hb2,size=2G
}

start_qemu() {
    rm -f "$qsock" "$WORKDIR/qemu-console.log" "$WORKDIR/qemu-cxlvmm.log"
    # shellcheck disable=SC2086 # $qemu may be a loader plus the binary
    timeout -k 10 "${E2E_GUEST_TIMEOUT:-300}" $qemu ${BENCH_QEMU_DATA:+-L "$BENCH_QEMU_DATA"} \
        -nodefaults -no-reboot -display none -vga none \
        -machine "q35,cxl=on,cxl-fmw.0.targets.0=cxl.0,cxl-fmw.0.size=256M,cxl-fmw.1.targets.0=cxl.1,cxl-fmw.1.size=1G,cxl-fmw.2.targets.0=cxl.2,cxl-fmw.2.size=2G" \
        -accel "${BENCH_QEMU_ACCEL:-kvm}" -cpu "${BENCH_QEMU_CPU:-host,-hypervisor,kvm=off}" -smp 1 -m 512M \
        -kernel "$KERNEL" -initrd "$INITRAMFS" -append "$1" \
        -serial "file:$WORKDIR/qemu-console.log" -qmp "unix:$qsock,server=on,wait=off" \
        -object memory-backend-ram,id=sm,size=256M \
        -object memory-backend-ram,id=im0,size=512M -object memory-backend-ram,id=im1,size=512M \
        -object memory-backend-ram,id=dcm,size=2G \
        -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.0 \
        -device cxl-rp,port=0,bus=cxl.0,id=rp0,chassis=0,slot=0 \
        -device cxl-type3,bus=rp0,volatile-memdev=sm,id=s0,sn=0x5a \
        -device pxb-cxl,bus_nr=22,bus=pcie.0,id=cxl.1 \
        -device cxl-rp,port=0,bus=cxl.1,id=rp1,chassis=0,slot=1 \
        -device cxl-rp,port=1,bus=cxl.1,id=rp2,chassis=0,slot=2 \
        -device cxl-type3,bus=rp1,volatile-memdev=im0,id=i0,sn=0xa0 \
        -device cxl-type3,bus=rp2,volatile-memdev=im1,id=i1,sn=0xa1 \
        -device pxb-cxl,bus_nr=32,bus=pcie.0,id=cxl.2 \
        -device cxl-rp,port=0,bus=cxl.2,id=rp3,chassis=0,slot=3 \
        -device cxl-type3,bus=rp3,volatile-dc-memdev=dcm,num-dc-regions=1,id=dcd0,sn=0xdcd \
        </dev/null >"$WORKDIR/qemu-cxlvmm.log" 2>&1 &
    VM_PID=$!
}

# timed_extent VMM SIZE OFFSET LEN [TAG]: add, wait for the guest's accept,
# release, wait for its release; one kind=dc line each. `accepted` and
# `released` count the guest's answers so far.
accepted=0 released=0
timed_extent() {
    _v=$1 _s=$2 _o=$3 _l=$4 _t=${5:-}
    _dpa=$(printf '%#x' "$_o")
    if [ -n "$_t" ]; then
        _b=b$_s-${_t##*-}
        r backend-add --id "$_b" --size "$((_l / M))M" --tag "$_t" >/dev/null ||
            emit "$_v kind=note path=dc text=backend-add_failed"
    fi
    _t0=$(now_ms)
    if ! out=$(dc_add "$_v" "$_o" "$_l" "$_t"); then
        emit "$_v kind=note path=dc text=add_$_s:_$(echo "$out" | tr ' ' '_' | cut -c1-120)"
        return
    fi
    accepted=$((accepted + 1))
    if ! wait_console "$_v" 'E2E-DCD accepted' "$accepted" 120; then
        emit "$_v kind=note path=dc text=add_${_s}_not_accepted"
        return
    fi
    _t1=$(now_ms)
    emit "$_v kind=dc op=add size=$_s respond_us=$(respond_us "$_v" accepted "$_dpa") e2e_ms=$((_t1 - _t0))"
    if [ "$_v" = cxlvmm ]; then
        check "$_v-$_s-extent-mapped" sh -c "'$CXLVMM_REMOTE' --api-socket '$sock' --json dc-extents dcd0 | grep -q '\"mapped\":true'"
    fi
    _t0=$(now_ms)
    if ! out=$(dc_release "$_v" "$_o" "$_l" "$_t"); then
        emit "$_v kind=note path=dc text=release_$_s:_$(echo "$out" | tr ' ' '_' | cut -c1-120)"
        return
    fi
    released=$((released + 1))
    if ! wait_console "$_v" 'E2E-DCD released' "$released" 120; then
        emit "$_v kind=note path=dc text=release_${_s}_not_answered"
        return
    fi
    _t1=$(now_ms)
    _free=""
    if [ -n "$_t" ]; then
        # The extent is gone and its backend bound to nothing.
        sleep 0.2
        if r backend-list | grep -q "\"id\":\"$_b\"[^}]*bound-to"; then _free=" backend_free=no"; else _free=" backend_free=yes"; fi
    fi
    emit "$_v kind=dc op=release size=$_s respond_us=$(respond_us "$_v" released "$_dpa") e2e_ms=$((_t1 - _t0))$_free"
}

bench_vm() {
    v=$1
    # no_timer_check: with the hypervisor hidden (as Linux needs to commit
    # CXL regions) the guest runs the IO-APIC timer check a KVM guest skips,
    # and under nesting the timer can be too slow for it (QEMU's q35 guest
    # panics). Both VMMs get the same command line.
    cmdline=$(l2_cmdline no_timer_check bench.maxlen="$maxlen" bench.budget="$budget" bench.passes="$passes")
    t_vm=$(now_ms)
    if [ "$v" = cxlvmm ]; then start_cxlvmm "$cmdline"; else start_qemu "$cmdline"; fi
    accepted=0 released=0
    if ! wait_console "$v" 'E2E-DCD ready' 1 1200; then
        check_fail "$v-guest-driver-ready" "no 'E2E-DCD ready' on the console"
        vm_failed "$v"
        kill "$VM_PID" 2>/dev/null
        wait "$VM_PID" 2>/dev/null
        VM_PID=""
        emit "$v kind=note path=all text=guest_did_not_get_ready"
        bench_lines "$v"
        return
    fi
    check_pass "$v-guest-driver-ready"
    # The bandwidth extent: DPA 0 of DC region 0.
    if out=$(dc_add "$v" 0 "$dc_len"); then
        accepted=1
        check "$v-dc-extent-accepted" wait_console "$v" 'E2E-DCD accepted dpa=0x0 ' 1 120
    else
        check_fail "$v-dc-add" "$out"
    fi
    check "$v-guest-benchmarks-done" wait_console "$v" 'E2E-DCD bench-done' 1 1200

    # Dynamic Capacity timings, BENCH_DC_REPS times each: 2 MiB at 256 MiB,
    # 1 GiB at 1 GiB (in cxlvmm each time a fresh tagged backend).
    k=0
    while [ $k -lt "$reps" ]; do
        if [ "$v" = cxlvmm ]; then
            timed_extent "$v" 2M $((256 * M)) $((2 * M)) "5be13bce-ae34-4a77-b6c3-16df975fc${k}00"
            timed_extent "$v" 1G $((1024 * M)) $((1024 * M)) "6be13bce-ae34-4a77-b6c3-16df975fc${k}00"
        else
            timed_extent "$v" 2M $((256 * M)) $((2 * M))
            timed_extent "$v" 1G $((1024 * M)) $((1024 * M))
        fi
        k=$((k + 1))
    done
    # N extents of 2 MiB from 260 MiB on (up to 1 GiB). cxlvmm: one request
    # naming all N (one More chain; the guest answers in payload-sized
    # parts). QEMU: one request each, each waited for (its event log is
    # shallow).
    next=$((260 * M))
    for n in $dc_ns; do
        t0=$(now_ms)
        if [ "$v" = cxlvmm ]; then
            ext="" i=0
            while [ $i -lt "$n" ]; do
                ext="$ext --extent $(((next + i * 2 * M) / M))M:2M"
                i=$((i + 1))
            done
            # shellcheck disable=SC2086 # $ext is words without blanks
            if out=$(r dc-add dcd0 --region 0 $ext); then
                accepted=$((accepted + n))
                if wait_console "$v" 'E2E-DCD accepted' "$accepted" 120; then
                    emit "$v kind=dcn n=$n requests=1 e2e_ms=$(($(now_ms) - t0))"
                else
                    emit "$v kind=note path=dcn text=n${n}_not_all_accepted"
                fi
            else
                emit "$v kind=note path=dcn text=n$n:_$(echo "$out" | tr ' ' '_' | cut -c1-120)"
            fi
            next=$((next + n * 2 * M))
            continue
        fi
        i=0 ok=1
        while [ $i -lt "$n" ]; do
            if ! out=$(dc_add "$v" "$next" $((2 * M))); then
                emit "$v kind=note path=dcn text=n$n:_$(echo "$out" | tr ' ' '_' | cut -c1-120)"
                ok=0
                break
            fi
            next=$((next + 2 * M))
            accepted=$((accepted + 1))
            if ! wait_console "$v" 'E2E-DCD accepted' "$accepted" 60; then
                emit "$v kind=note path=dcn text=n${n}_extent_${i}_not_accepted"
                ok=0
                break
            fi
            i=$((i + 1))
        done
        [ $ok = 1 ] && emit "$v kind=dcn n=$n requests=$n e2e_ms=$(($(now_ms) - t0))"
    done

    vm_shutdown "$v"
    if [ "$v" = cxlvmm ]; then
        finish_vm "$v"
    else
        wait "$VM_PID"
        rc=$?
        VM_PID=""
        check_eq "$v-exit" "$rc" 0
    fi
    echo "E2E-TIME: $v ran for $((($(now_ms) - t_vm) / 1000))s"
    bench_lines "$v"
}

# bench_lines VMM: re-emit the guest's result lines, and which memory path each
# region took.
bench_lines() {
    _c=$WORKDIR/$1-console.log
    tr -d '\r' <"$_c" | sed -n "s/.*E2E-BENCH: /E2E-BENCH: vmm=$1 /p"
    emit "$1 kind=path path=ram mode=memslot"
    for _p in static interleave_4k interleave_256 dc; do
        _hpa=$(console_value "$1" "hpa_$_p")
        [ -n "$_hpa" ] || continue
        if [ "$1" = cxlvmm ]; then
            _m=$("$CXL_GUEST" mapped "$WORKDIR/$1-cxlvmm.log" "$_hpa")
        else
            # QEMU maps CXL windows as I/O memory: every access exits to it.
            _m=emulated
        fi
        emit "$1 kind=path path=$_p mode=$_m"
    done
}

for v in $vmms; do
    bench_vm "$v"
done

check_summary host
