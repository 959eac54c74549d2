#!/usr/bin/env bash
# fuzz.sh - run cxlvmm's libFuzzer targets (docs/FUZZING.md).
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS]
#
# Runs TARGET (default: all, every target `cargo fuzz list` finds in
# fuzz/Cargo.toml) for SECONDS each (default 60), one after the other, and
# prints per target the executions, the coverage and whether it crashed.
# Exits non-zero if any target crashed (the crashing input's path is in the
# output; rerun it with `cargo fuzz run TARGET PATH`).
#
# Installs cargo-fuzz from crates.io the first time (`cargo install`, kept in
# ~/.cargo/bin). Uses the nightly toolchain when rustup has one, otherwise
# the stable one with RUSTC_BOOTSTRAP=1 (libFuzzer builds need nightly
# flags). Corpora grow in fuzz/corpus/TARGET (git-ignored; fuzz/seeds/TARGET,
# when there is one, is read too; fuzz/dicts/TARGET.dict is passed as the
# libFuzzer dictionary), crashes land in fuzz/artifacts/TARGET, logs in
# fuzz/artifacts/logs.
#
# Environment:
#   CXLVMM_FUZZ_TOOLCHAIN  nightly | stable (default: nightly if installed)
#   CXLVMM_FUZZ_SANITIZER  address | none (default: address when the
#                          toolchain ships the ASan runtime, else none)
#   CXLVMM_FUZZ_ARGS       extra libFuzzer flags, e.g. "-jobs=2 -workers=2"
#   CXLVMM_FUZZ_SEED       libFuzzer's random seed (default: a new one each run)
#   CXLVMM_FUZZ_RUNS       stop each target after this many inputs instead of
#                          after SECONDS (which then only bounds the run).
#                          With a seed, a run explores the same inputs every
#                          time: CI's fuzz step is repeatable, and finding new
#                          bugs is what long runs without them are for.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TARGET=${1:-all}
SECONDS_EACH=${2:-60}
CARGO_FUZZ_VERSION=0.13.2
[[ $SECONDS_EACH =~ ^[0-9]+$ ]] || die "SECONDS must be a whole number, not '$SECONDS_EACH'"

cd "$ROOT"
# The fuzz crate has its own target directory (fuzz/target); a
# CARGO_TARGET_DIR meant for the main workspace must not leak into it.
unset CARGO_TARGET_DIR

# --- toolchain -------------------------------------------------------------
toolchain=${CXLVMM_FUZZ_TOOLCHAIN:-}
if [[ -z $toolchain ]]; then
    if command -v rustup >/dev/null && rustup toolchain list | grep -q '^nightly'; then
        toolchain=nightly
    else
        toolchain=stable
    fi
fi
CARGO=(cargo)
if command -v rustup >/dev/null; then
    CARGO=(cargo "+$toolchain")
fi
if [[ $toolchain != nightly ]]; then
    # cargo-fuzz passes -Z flags (sanitizers, coverage) that only nightly
    # accepts; this lets a stable toolchain take them.
    export RUSTC_BOOTSTRAP=1
fi
log "toolchain: $toolchain ($("${CARGO[@]}" --version))"

# --- cargo-fuzz ----------------------------------------------------------
if ! "${CARGO[@]}" fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io"
    t=$SECONDS
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" >&2
    log "cargo-fuzz installed in $((SECONDS - t))s"
fi

# --- sanitizer -----------------------------------------------------------
sanitizer=${CXLVMM_FUZZ_SANITIZER:-}
if [[ -z $sanitizer ]]; then
    sysroot=$(rustc "+$toolchain" --print sysroot 2>/dev/null || rustc --print sysroot)
    host=$(rustc -vV | sed -n 's/^host: //p')
    if compgen -G "$sysroot/lib/rustlib/$host/lib/librustc-*_rt.asan.a" >/dev/null; then
        sanitizer=address
    else
        sanitizer=none
    fi
fi
log "sanitizer: $sanitizer"

# --- targets -------------------------------------------------------------
mapfile -t all < <("${CARGO[@]}" fuzz list)
((${#all[@]} > 0)) || die "cargo fuzz list found no targets in fuzz/Cargo.toml"
if [[ $TARGET == all ]]; then
    targets=("${all[@]}")
else
    printf '%s\n' "${all[@]}" | grep -qx -- "$TARGET" ||
        die "no fuzz target '$TARGET' (targets: ${all[*]})"
    targets=("$TARGET")
fi

t=$SECONDS
log "building ${targets[*]}"
if [[ $TARGET == all ]]; then
    "${CARGO[@]}" fuzz build --sanitizer "$sanitizer" >&2
else
    "${CARGO[@]}" fuzz build --sanitizer "$sanitizer" "$TARGET" >&2
fi
log "built in $((SECONDS - t))s"

# --- runs ----------------------------------------------------------------
mkdir -p fuzz/artifacts/logs
# shellcheck disable=SC2206 # word splitting of the extra flags is wanted
extra=(${CXLVMM_FUZZ_ARGS:-})
seed=${CXLVMM_FUZZ_SEED:-}
runs=${CXLVMM_FUZZ_RUNS:-}
[[ -z $seed || $seed =~ ^[0-9]+$ ]] || die "CXLVMM_FUZZ_SEED must be a whole number, not '$seed'"
[[ -z $runs || $runs =~ ^[0-9]+$ ]] || die "CXLVMM_FUZZ_RUNS must be a whole number, not '$runs'"
[[ -n $seed ]] && extra+=(-seed="$seed")
[[ -n $runs ]] && extra+=(-runs="$runs")
failed=()
summary=()
for target in "${targets[@]}"; do
    corpus=fuzz/corpus/$target
    mkdir -p "$corpus" "fuzz/artifacts/$target"
    dirs=("$corpus")
    [[ -d fuzz/seeds/$target ]] && dirs+=("fuzz/seeds/$target")
    dict=()
    [[ -f fuzz/dicts/$target.dict ]] && dict=(-dict="fuzz/dicts/$target.dict")
    logf=fuzz/artifacts/logs/$target.log
    log "running $target for ${runs:+$runs inputs, at most }${SECONDS_EACH}s${seed:+, seed $seed} (log: $logf)"
    rc=0
    "${CARGO[@]}" fuzz run --sanitizer "$sanitizer" "$target" "${dirs[@]}" -- \
        -max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=20 \
        -rss_limit_mb=4096 "${dict[@]}" "${extra[@]}" >"$logf" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logf" | tail -n1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logf" | tail -n1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$logf" | tail -n1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$logf" | tail -n1 || true)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    units=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$logf" | tail -n1)
    if ((rc != 0)) || [[ -n $artifact ]]; then
        result="CRASH (exit $rc) ${artifact:-no artifact; see $logf}"
        failed+=("$target")
        # The finding itself: libFuzzer's report and the panic message.
        grep -E -m1 -A1 "panicked at" "$logf" >&2 || true
        grep -E -m10 "ERROR: |SUMMARY: |Test unit written" "$logf" >&2 || true
    else
        result="no crash"
    fi
    line=$(printf '%-14s execs %-9s (%s/s) cov %-6s ft %-6s corpus %-5s rss %sMB  %s' \
        "$target" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${units:-?}" "${rss:-?}" "$result")
    summary+=("$line")
    log "$line"
done

printf '\n%s\n' "fuzz summary (${runs:+$runs inputs, at most }${SECONDS_EACH}s each${seed:+, seed $seed}, $toolchain, sanitizer $sanitizer):"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
    die "crash in: ${failed[*]}"
fi
