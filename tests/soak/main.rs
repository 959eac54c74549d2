//! Soak: add/accept/release cycles of tagged Dynamic Capacity on this
//! machine's KVM, through the API handler (backends created and deleted
//! each cycle) and the device's mailbox driven as a guest driver would
//! (Get Event Records, Add Dynamic Capacity Response, Clear Event Records,
//! Release Dynamic Capacity), with real memslots. After a warm-up, the
//! memslots, backends, open file descriptors and RSS must end where they
//! started.
//!
//! `CXLVMM_SOAK_CYCLES` sets the count (default [`DEFAULT_CYCLES`], which
//! CI runs); the full soak:
//!
//! ```sh
//! CXLVMM_SOAK_CYCLES=10000 cargo test -p cxlvmm-tests --test soak -- --nocapture
//! ```
//!
//! It is its own test binary so that no other test shares the process
//! whose descriptors and RSS it counts.

#[allow(dead_code)]
#[path = "../kvm/dcd_guest.rs"]
mod dcd_guest;
#[allow(dead_code)]
#[path = "../kvm/harness.rs"]
mod harness;

use std::time::Instant;

use api::ExtentStatus;
use uuid::Uuid;
use vmm::api_handler::ApiContext;

use dcd_guest::*;
use harness::{Asm, TestVm, CODE_ADDR};

/// Cycles when `CXLVMM_SOAK_CYCLES` is not set: about a second here.
const DEFAULT_CYCLES: u64 = 1000;
/// RSS growth allowed after the warm-up: allocator arenas and page-table
/// pages may settle a little differently; a leak of one 2 MiB backend per
/// cycle would exceed it within a few cycles.
const RSS_SLACK_KIB: u64 = 8 * 1024;
/// Where the vCPU reads (the extent at offset 2 MiB of region 0).
const PROBE_OFFSET: u64 = 2 * MIB;

fn cycles() -> u64 {
    std::env::var("CXLVMM_SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CYCLES)
}

/// What must not grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Footprint {
    slots: usize,
    backends: usize,
    fds: usize,
    rss_kib: u64,
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn footprint(t: &TestVm, ctx: &ApiContext) -> Footprint {
    Footprint {
        slots: t.memory.slots().len(),
        backends: backends(ctx).len(),
        fds: open_fds(),
        rss_kib: rss_kib(),
    }
}

/// How a cycle goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Accepted, then released by tag: the guest answers Release DC.
    Release,
    /// Accepted, then taken by a forced release.
    Forced,
    /// Withdrawn before the guest read the offer.
    WithdrawUnread,
    /// Withdrawn after the guest read it; its late acceptance is refused.
    WithdrawRead,
}

fn kind(i: u64) -> Kind {
    match i % 8 {
        5 => Kind::Forced,
        6 => Kind::WithdrawUnread,
        7 => Kind::WithdrawRead,
        _ => Kind::Release,
    }
}

/// One cycle: backend, offer, the guest's answer, release, backend gone.
fn cycle(t: &mut TestVm, ctx: &ApiContext, r: &Regs, i: u64) {
    let tag = Uuid::from_u128(0x50a4_0000_0000 + u128::from(i));
    let id = format!("soak{}", i % 5);
    let probe = i.is_multiple_of(16) && kind(i) == Kind::Release;
    let offset = if probe {
        PROBE_OFFSET
    } else {
        ((i * 7) % 128) * 2 * MIB
    };
    let (dpa, len) = (offset, 2 * MIB);
    let hpa = WINDOW + offset;
    backend_add(ctx, &id, len, tag).unwrap();
    if probe {
        let b = t.devices.as_ref().unwrap().cxl.backends.get(&id).unwrap();
        b.write(0x10, &[(i as u8) | 1]).unwrap();
    }
    let offered = extents_of(dc_add(ctx, tag, offset, len));
    assert_eq!(offered[0].state, ExtentStatus::Pending);

    match kind(i) {
        Kind::Release | Kind::Forced => {
            let add = r.drain_dc_events();
            assert_eq!(add.len(), 1, "cycle {i}: one Add Capacity record");
            assert_eq!(
                (add[0].event_type, add[0].dpa, add[0].more),
                (0, dpa, false)
            );
            assert_eq!(r.mbox(ADD_DC_RESPONSE, &update_list(dpa, len)).0, 0);
            let slot = t.memory.slot_at(hpa).expect("memslot after acceptance");
            assert_eq!((slot.gpa, slot.len), (hpa, len), "cycle {i}");
            if probe {
                t.vcpu.set_boot_state(CODE_ADDR).unwrap();
                assert_eq!(t.run(100), Ok((i as u8) | 1), "cycle {i}: vCPU read");
            }
            if kind(i) == Kind::Forced {
                let taken = extents_of(dc_release(ctx, tag, true));
                assert_eq!(taken[0].state, ExtentStatus::Released);
                assert!(t.memory.slot_at(hpa).is_none(), "cycle {i}: forced");
                let ev = r.drain_dc_events();
                assert_eq!((ev.len(), ev[0].event_type), (1, 2), "cycle {i}");
            } else {
                let asked = extents_of(dc_release(ctx, tag, false));
                assert_eq!(asked[0].state, ExtentStatus::ReleasePending);
                let ev = r.drain_dc_events();
                assert_eq!((ev.len(), ev[0].event_type), (1, 1), "cycle {i}");
                assert_eq!(r.mbox(RELEASE_DC, &update_list(dpa, len)).0, 0);
                assert!(t.memory.slot_at(hpa).is_none(), "cycle {i}: released");
            }
        }
        Kind::WithdrawUnread => {
            let w = extents_of(dc_release(ctx, tag, true));
            assert_eq!(w[0].state, ExtentStatus::Withdrawn);
            assert!(
                r.drain_dc_events().is_empty(),
                "cycle {i}: record taken back"
            );
        }
        Kind::WithdrawRead => {
            let seen = r.read_dc_events();
            assert_eq!(seen.len(), 1, "cycle {i}");
            let w = extents_of(dc_release(ctx, tag, true));
            assert_eq!(w[0].state, ExtentStatus::Withdrawn);
            let (rc, _) = r.mbox(ADD_DC_RESPONSE, &update_list(dpa, len));
            assert_eq!(rc, RC_INVALID_PHYSICAL_ADDRESS, "cycle {i}");
            assert!(t.memory.slot_at(hpa).is_none(), "cycle {i}: nothing mapped");
            r.clear_dc_events(&[seen[0].0]);
        }
    }
    backend_remove(ctx, &id).unwrap();
}

#[test]
fn dcd_cycles_leave_no_trace() {
    let hpa = WINDOW + PROBE_OFFSET;
    // rax = [hpa + 0x10]; report al.
    let code = Asm::default().mov_rbx(hpa + 0x10).load_rax_rbx().finish();
    let mut t = TestVm::with_config(&code, &config());
    t.map_high_gib(WINDOW);
    let ctx = api_context(&t);
    let r = Regs::guest_setup(&t.mmio);

    let total = cycles();
    let warm_up = (total / 10).clamp(16, 200).min(total);
    for i in 0..warm_up {
        cycle(&mut t, &ctx, &r, i);
    }
    let before = footprint(&t, &ctx);
    let start = Instant::now();
    for i in warm_up..total {
        cycle(&mut t, &ctx, &r, i);
        // Nothing lingers between cycles.
        if i.is_multiple_of(64) {
            assert!(dc_extents(&ctx).is_empty(), "cycle {i}");
            assert_eq!(t.memory.slots().len(), before.slots, "cycle {i}");
        }
    }
    let elapsed = start.elapsed();
    let after = footprint(&t, &ctx);
    let log = device_info(&ctx).dc_event_log.unwrap();
    eprintln!(
        "soak: {total} cycles ({warm_up} warm-up) in {:.1} s after the warm-up; \
         before {before:?}, after {after:?}; DC event log {} of {}",
        elapsed.as_secs_f64(),
        log.used,
        log.depth
    );
    assert!(dc_extents(&ctx).is_empty());
    assert_eq!(log.used, 0);
    assert_eq!(after.slots, before.slots, "memslots");
    assert_eq!((before.backends, after.backends), (0, 0), "backends");
    assert_eq!(after.fds, before.fds, "file descriptors");
    assert!(
        after.rss_kib <= before.rss_kib + RSS_SLACK_KIB,
        "RSS grew from {} to {} KiB",
        before.rss_kib,
        after.rss_kib
    );
}
