# shellcheck shell=sh
# check.sh - tiny check library for cxlvmm e2e scenarios (POSIX sh; sourced
# by host.sh under bash/dash/busybox ash and by guest.sh under busybox ash).
#
# Every check prints exactly one line:
#   CHECK PASS: NAME
#   CHECK FAIL: NAME (detail)
# and failures are counted in CHECK_FAILED.
#
#   check NAME CMD [ARGS...]     pass if CMD exits 0 (its output is the detail)
#   check_eq NAME GOT WANT       pass if the strings are equal
#   check_pass NAME / check_fail NAME DETAIL
#   check_import FILE PREFIX     re-emit the CHECK lines found in a console log
#                                FILE with NAME prefixed by PREFIX, counting its
#                                failures; also checks that the log contains the
#                                CHECK-SUMMARY line (i.e. the checks completed)
#   check_tail FILE [N] [TITLE]  print the last N (60) lines of FILE, framed
#   check_summary [WHO]          print "CHECK-SUMMARY: WHO N checks, M failed",
#                                return 1 if any check failed

CHECK_COUNT=${CHECK_COUNT:-0}
CHECK_FAILED=${CHECK_FAILED:-0}

# _check_oneline TEXT: squeeze TEXT onto one short line.
_check_oneline() {
    printf '%s' "$1" | tr '\r\n\t' '   ' | tr -s ' ' | cut -c1-200 | sed 's/ *$//'
}

check_pass() {
    CHECK_COUNT=$((CHECK_COUNT + 1))
    echo "CHECK PASS: $1"
}

check_fail() {
    CHECK_COUNT=$((CHECK_COUNT + 1))
    CHECK_FAILED=$((CHECK_FAILED + 1))
    echo "CHECK FAIL: $1 ($(_check_oneline "${2:-failed}"))"
}

# has TEXT PART: TEXT contains PART.
has() { case $1 in *"$2"*) return 0 ;; *) return 1 ;; esac; }

check() {
    _check_name=$1
    shift
    if _check_out=$("$@" 2>&1); then
        check_pass "$_check_name"
    else
        _check_rc=$?
        check_fail "$_check_name" "exit $_check_rc: $* ${_check_out:+-> $_check_out}"
    fi
}

check_eq() {
    if [ "$2" = "$3" ]; then
        check_pass "$1"
    else
        check_fail "$1" "got '$2', want '$3'"
    fi
}

check_import() {
    _check_file=$1
    _check_prefix=${2:-}
    if [ ! -f "$_check_file" ]; then
        check_fail "${_check_prefix}log" "no console log $_check_file"
        return 1
    fi
    # Console lines end in \r\n and kernel messages may precede a CHECK on the
    # same line: keep only what follows "CHECK ".
    _check_lines=$(tr -d '\r' <"$_check_file" | sed -nE 's/.*(CHECK (PASS|FAIL): )/\1/p')
    while IFS= read -r _check_line; do
        case $_check_line in
        "CHECK PASS: "*) check_pass "$_check_prefix${_check_line#CHECK PASS: }" ;;
        "CHECK FAIL: "*)
            CHECK_COUNT=$((CHECK_COUNT + 1))
            CHECK_FAILED=$((CHECK_FAILED + 1))
            echo "CHECK FAIL: $_check_prefix${_check_line#CHECK FAIL: }"
            ;;
        esac
    done <<EOF
$_check_lines
EOF
    if tr -d '\r' <"$_check_file" | grep -q 'CHECK-SUMMARY: '; then
        check_pass "${_check_prefix}completed"
    else
        check_fail "${_check_prefix}completed" "no CHECK-SUMMARY in $_check_file: checks did not run to the end"
    fi
}

check_tail() {
    _check_n=${2:-60}
    echo "----- ${3:-last $_check_n lines of $1} -----"
    if [ -f "$1" ]; then
        tail -n "$_check_n" "$1" | tr -d '\r'
    else
        echo "(missing: $1)"
    fi
    echo "----- end -----"
}

check_summary() {
    echo "CHECK-SUMMARY: ${1:+$1 }$CHECK_COUNT checks, $CHECK_FAILED failed"
    [ "$CHECK_FAILED" -eq 0 ]
}
