#!/usr/bin/env bash
# demo.sh - the main job on defaults: boot Linux in cxlvmm with a CXL Dynamic
# Capacity device, add and release tagged capacity through the REST API, and
# show what the guest saw. Run as root, or as a user with sudo, on a fresh
# machine: it prepares the host (QEMU, guest kernel; root only for that) the
# first time, then runs the "demo" scenario
# (nested under QEMU where this host's KVM cannot boot Linux, directly where
# it can).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
as_root scripts/setup-host.sh >/dev/null
scripts/fetch-guest.sh >/dev/null
exec scripts/e2e.sh demo
