# shellcheck shell=sh
# vm.sh - running the L2 guest from a scenario's host.sh (sourced after
# check.sh; POSIX sh).
#
#   l2_cmdline EXTRA...      the base L2 kernel command line plus EXTRA:
#                            console, quiet (E2E_L2_APPEND replaces it),
#                            panic=-1, and when nested the TSC frequency the
#                            L1 kernel measured (guests without kvm-clock
#                            cannot calibrate the TSC under nested TCG)
#   run_vm NAME ARGS...      run "$CXLVMM" ARGS with --serial to
#                            $WORKDIR/NAME-console.log, output to
#                            $WORKDIR/NAME-cxlvmm.log, under the guest timeout;
#                            checks the exit status (check NAME-exit) and
#                            imports the guest's CHECK lines
#   vm_failed NAME           print the cxlvmm output and console tails
#   start_vm NAME ARGS... / finish_vm NAME / wait_console NAME RE COUNT [S]
#                            a VM in the background, driven through its API
#   check_seccomp NAME THREAD...
#                            every thread of the background cxlvmm runs under
#                            a seccomp filter, and the named threads exist
#   first_drive              the run's first drive (E2E_DRIVES: an L1 block
#                            device when nested, an image file when direct)
#                            once it is there, waiting up to 10 s
#   console_input NAME / console_send LINE
#                            type lines on that VM's console (set up before
#                            start_vm)

l2_cmdline() {
    _vm_cmd="console=ttyS0 ${E2E_L2_APPEND:-quiet loglevel=1} panic=-1"
    if [ "${E2E_MODE:-}" = nested ]; then
        _vm_khz=$(dmesg | sed -n 's/.*tsc: Detected \([0-9]*\)\.\([0-9][0-9][0-9]\) MHz.*/\1\2/p' | head -n 1)
        [ -n "$_vm_khz" ] && _vm_cmd="$_vm_cmd tsc_early_khz=$_vm_khz tsc=reliable"
    fi
    echo "$_vm_cmd $*"
}

run_vm() {
    _vm_name=$1
    shift
    _vm_console=$WORKDIR/$_vm_name-console.log
    _vm_log=$WORKDIR/$_vm_name-cxlvmm.log
    rm -f "$_vm_console" "$_vm_log"
    _vm_start=$(date +%s)
    timeout -k 10 "${E2E_GUEST_TIMEOUT:-300}" "$CXLVMM" --serial "file:$_vm_console" "$@" >"$_vm_log" 2>&1
    _vm_rc=$?
    echo "E2E-TIME: $_vm_name guest ran for $(($(date +%s) - _vm_start))s (cxlvmm exit $_vm_rc)"
    if [ "$_vm_rc" -eq 124 ]; then
        check_fail "$_vm_name-exit" "timed out after ${E2E_GUEST_TIMEOUT:-300}s"
    else
        check_eq "$_vm_name-exit" "$_vm_rc" 0
    fi
    check_import "$_vm_console" guest/
    # The guest's informational lines (what it saw), re-printed for the log.
    tr -d '\r' <"$_vm_console" | sed -n 's/.*\(E2E-INFO: \)/\1/p'
    [ -n "${E2E_SHOW_CONSOLE:-}" ] && check_tail "$_vm_console" 100000 "guest console"
    return 0
}

# console_value NAME KEY: the value of KEY=... on the guest's "E2E-VALUE" lines.
console_value() {
    tr -d '\r' <"$WORKDIR/$1-console.log" | sed -n "s/.*E2E-VALUE $2=\([^ ]*\).*/\1/p" | tail -n 1
}

vm_failed() {
    check_tail "$WORKDIR/$1-cxlvmm.log" 30 "cxlvmm output (last 30 lines)"
    check_tail "$WORKDIR/$1-console.log" 80 "guest console (last 80 lines)"
}

# wait_console NAME PATTERN COUNT [SECONDS]: wait until the guest console of
# run NAME has COUNT lines matching PATTERN (grep -E); fails on timeout or
# when cxlvmm has exited.
wait_console() {
    _wc_n=$((${4:-120} * 10))
    while [ "$_wc_n" -gt 0 ]; do
        if [ -f "$WORKDIR/$1-console.log" ]; then
            _wc_got=$(tr -d '\r' <"$WORKDIR/$1-console.log" | grep -cE "$2")
            [ "$_wc_got" -ge "$3" ] && return 0
        fi
        [ -n "${VM_PID:-}" ] && ! kill -0 "$VM_PID" 2>/dev/null && return 1
        sleep 0.1
        _wc_n=$((_wc_n - 1))
    done
    return 1
}

# start_vm NAME ARGS...: like run_vm, in the background (VM_PID); finish
# with finish_vm NAME.
start_vm() {
    _vm_name=$1
    shift
    rm -f "$WORKDIR/$_vm_name-console.log" "$WORKDIR/$_vm_name-cxlvmm.log"
    VM_DEADLINE=$(($(date +%s) + ${E2E_GUEST_TIMEOUT:-300} + 20))
    timeout -k 10 "${E2E_GUEST_TIMEOUT:-300}" "$CXLVMM" --serial "file:$WORKDIR/$_vm_name-console.log" "$@" \
        <"${VM_STDIN:-/dev/null}" >"$WORKDIR/$_vm_name-cxlvmm.log" 2>&1 &
    VM_PID=$!
}

# vm_running PID: PID exists and is not a zombie.
vm_running() {
    [ -r "/proc/$1/stat" ] && ! sed 's/^.*) //' "/proc/$1/stat" | grep -q '^Z'
}

# vm_stuck NAME: show where a cxlvmm that outlived its timeout (and the
# SIGKILL 10 s later: a task stuck in the kernel) is stuck: each thread's
# state, wait channel and kernel stack, for it and its children.
vm_stuck() {
    echo "----- $1: cxlvmm still running after its timeout -----"
    for _vs_pid in "$VM_PID" $(grep -l "^[0-9]* ([^)]*) [A-Z] $VM_PID " /proc/[0-9]*/stat 2>/dev/null |
        sed 's|/proc/\([0-9]*\)/stat|\1|'); do
        for _vs_t in /proc/"$_vs_pid"/task/*; do
            [ -r "$_vs_t/stat" ] || continue
            echo "$_vs_t $(cat "$_vs_t/comm" 2>/dev/null) state=$(sed 's/^.*) \([A-Z]\).*/\1/' "$_vs_t/stat") wchan=$(cat "$_vs_t/wchan" 2>/dev/null)"
            cat "$_vs_t/stack" 2>/dev/null
        done
    done
    echo "----- end -----"
}

first_drive() {
    _fd=${E2E_DRIVES%% *}
    _fd_n=100
    while [ -n "$_fd" ] && [ ! -b "$_fd" ] && [ ! -f "$_fd" ] && [ $_fd_n -gt 0 ]; do
        sleep 0.1
        _fd_n=$((_fd_n - 1))
    done
    echo "$_fd"
}

# console_input NAME: make the next start_vm's guest console read from a
# FIFO, and open it on fd 7 for console_send.
# console_send LINE: type LINE (and Enter) on the guest's console.
console_input() {
    VM_STDIN=$WORKDIR/$1-console.in
    rm -f "$VM_STDIN"
    mkfifo "$VM_STDIN"
    # Read-write: opening does not block, and cxlvmm never sees EOF.
    exec 7<>"$VM_STDIN"
}
console_send() {
    printf '%s\n' "$1" >&7
}

# finish_vm NAME: wait for the background VM, check its exit and import the
# guest's checks.
finish_vm() {
    # Its timeout kills it by VM_DEADLINE; one that is still there then
    # is stuck in the kernel, and waiting for it would hang the run with
    # nothing to show.
    while vm_running "$VM_PID" && [ "$(date +%s)" -lt "${VM_DEADLINE:-0}" ]; do
        sleep 0.2
    done
    if vm_running "$VM_PID"; then
        check_fail "$1-exit" "cxlvmm still running $((${E2E_GUEST_TIMEOUT:-300} + 20))s after it started"
        vm_stuck "$1"
        vm_failed "$1"
        VM_PID=""
        return 0
    fi
    wait "$VM_PID"
    _vm_rc=$?
    VM_PID=""
    if [ "$_vm_rc" -eq 124 ]; then
        check_fail "$1-exit" "timed out after ${E2E_GUEST_TIMEOUT:-300}s"
    else
        check_eq "$1-exit" "$_vm_rc" 0
    fi
    [ -n "${E2E_SHOW_CONSOLE:-}" ] && check_tail "$WORKDIR/$1-console.log" 100000 "guest console"
    return 0
}

# check_seccomp NAME THREAD...: every thread of the cxlvmm started by
# start_vm shows "Seccomp: 2" (a filter) in /proc/PID/task/TID/status, and a
# thread of each given name is among them. Prints the threads and their
# modes on an E2E-SECCOMP line. KVM's kernel worker threads are shown but
# not required to have a filter. cxlvmm is $VM_PID itself under busybox's
# `timeout` (which execs the command), its child under coreutils'.
check_seccomp() {
    _sc_name=$1
    shift
    _sc_pid=""
    [ "$(cat /proc/"$VM_PID"/comm 2>/dev/null)" = cxlvmm ] && _sc_pid=$VM_PID
    [ -n "$_sc_pid" ] || for _sc_stat in /proc/[0-9]*/stat; do
        # pid (comm) state ppid ...: comm is "cxlvmm", no spaces.
        read -r _sc_p _sc_c _sc_s _sc_pp _sc_rest <"$_sc_stat" 2>/dev/null || continue
        if [ "$_sc_pp" = "$VM_PID" ] && [ "$_sc_c" = "(cxlvmm)" ]; then
            _sc_pid=$_sc_p
            break
        fi
    done
    if [ -z "$_sc_pid" ]; then
        check_fail "$_sc_name" "no cxlvmm process under pid $VM_PID"
        return 1
    fi
    _sc_all="" _sc_bad=""
    for _sc_task in /proc/"$_sc_pid"/task/*; do
        _sc_comm=$(cat "$_sc_task/comm" 2>/dev/null) || continue
        _sc_mode=$(sed -n 's/^Seccomp:[[:space:]]*//p' "$_sc_task/status" 2>/dev/null)
        _sc_all="$_sc_all $_sc_comm:$_sc_mode"
        # KVM's own worker threads in the process (kvm-nx-lpage-recovery)
        # run kernel code only; some kernels start them before any filter.
        case $_sc_comm in kvm-*) continue ;; esac
        [ "$_sc_mode" = 2 ] || _sc_bad="$_sc_bad $_sc_comm:$_sc_mode"
    done
    echo "E2E-SECCOMP: cxlvmm pid $_sc_pid threads (name:mode):$_sc_all"
    for _sc_want in "$@"; do
        case "$_sc_all " in
        *" $_sc_want:"*) ;;
        *) _sc_bad="$_sc_bad $_sc_want:missing" ;;
        esac
    done
    if [ -z "$_sc_bad" ]; then
        check_pass "$_sc_name"
    else
        check_fail "$_sc_name" "threads without a filter or missing:$_sc_bad"
    fi
}
