//! The `type3` target: a CXL Type 3 device as a guest and an operator see
//! it. The input picks a device ([`DeviceKind`]) and a sequence of
//! operations, decoded with `arbitrary`:
//!
//! - guest: mailbox commands with any opcode (or one the device implements)
//!   and payload through the real registers; Add DC Response and Release DC
//!   built from the device's pending and accepted extents or raw;
//!   draining event logs as a driver does; DOE requests (raw, and CDAT Read
//!   Entry); HDM decoder programming and commits; HDM Decoder Enable and
//!   Mem_Enable; raw reads and writes of the registers BAR, the MSI-X BAR and
//!   configuration space;
//! - operator: tagged backends created and deleted in the VMM's registry,
//!   Dynamic Capacity add and release requests, mailbox and DC faults
//!   armed, posted and cleared (`operator.rs`);
//! - whole exchanges (offer and accept or decline, release and give back)
//!   as one step (`flows.rs`), so that held capacity is common.
//!
//! After every step `invariants::check` runs; a refused request must leave
//! the device as it was.

pub mod flows;
pub mod guest;
pub mod invariants;
pub mod operator;
pub mod rig;

use arbitrary::Arbitrary;
use devices::cxl::dcd::extent::encode_updated_extents;
use devices::cxl::dcd::{ExtentRange, ExtentState};
use devices::cxl::device_regs::mailbox::{
    CONTROL_BACKGROUND_COMMAND_COMPLETE_INTERRUPT, CONTROL_MB_DOORBELL_INTERRUPT,
};
use devices::cxl::doe::DOE_CTRL_ABORT;
use devices::cxl::mailbox::{Opcode, RetCode, COMMANDS};
use devices::cxl::type3::{MSIX_BAR, REGS_BAR, REGS_BAR_SIZE};

use self::guest::DecoderProgram;
pub use self::operator::{Operator, OperatorOp, Span};
pub use self::rig::{DeviceKind, Rig, UNIT, WINDOW};

/// Most operations run per input (keeps every run fast).
pub const MAX_OPS: usize = 96;

/// An opcode: one the device implements (by index into its command table),
/// or any 16-bit value.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum OpcodeSel {
    /// `COMMANDS[n % len]`.
    Known(u8),
    /// Any opcode.
    Any(u16),
}

impl OpcodeSel {
    fn value(self) -> u16 {
        match self {
            OpcodeSel::Known(n) => COMMANDS[usize::from(n) % COMMANDS.len()].opcode as u16,
            OpcodeSel::Any(v) => v,
        }
    }
}

/// One extent (or several) named in a host response.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Pick {
    /// Every pending extent, in DPA order (a driver accepting what it was
    /// offered).
    AllPending,
    /// Every extent whose release the device asked for (a driver giving
    /// back what it was asked for).
    AllReleasePending,
    /// The n-th live extent (pending, accepted or release-pending), whole.
    Live(u8),
    /// A block-sized piece of the n-th live extent, `skip` blocks in.
    Part {
        /// Which live extent.
        n: u8,
        /// Blocks into it.
        skip: u8,
    },
    /// Blocks of a region (DPA from the region base).
    Region(Span),
    /// Any DPA range.
    Raw {
        /// DPA.
        dpa: u64,
        /// Length.
        len: u64,
    },
}

/// A guest access.
#[derive(Arbitrary, Clone, Debug)]
pub enum GuestOp {
    /// A mailbox command.
    Mailbox {
        /// Opcode.
        opcode: OpcodeSel,
        /// Input payload (written to the payload registers).
        payload: Vec<u8>,
        /// Payload Length in the Command Register; the real length if none.
        declared_len: Option<u32>,
        /// MB Doorbell Interrupt / Background Command Complete Interrupt.
        interrupts: u8,
    },
    /// Add Dynamic Capacity Response (else Release Dynamic Capacity).
    DcResponse {
        /// Add DC Response if true, Release DC if false.
        add: bool,
        /// The extents named.
        picks: Vec<Pick>,
        /// Flags byte (bit 0: More).
        flags: u8,
        /// Updated Extent List Size when not the real count.
        count: Option<u32>,
    },
    /// Get Event Records on a log, then Clear Event Records of what it gave.
    DrainEvents {
        /// Event log (0-4 exist).
        log: u8,
        /// Clear them afterwards.
        clear: bool,
    },
    /// A raw DOE request: dwords, a Control write, then reads.
    Doe {
        /// Request dwords.
        request: Vec<u32>,
        /// Control register value (bit 31 Go, bit 0 Abort).
        control: u32,
        /// Response dwords to read at most.
        reads: u8,
    },
    /// CDAT Read Entry over DOE, after an Abort.
    CdatEntry {
        /// Entry handle.
        handle: u16,
        /// Response dwords to read at most.
        reads: u8,
    },
    /// Programs (and maybe commits) an endpoint decoder.
    Decoder {
        /// Decoder index (4 exist).
        index: u8,
        /// Base: window base + n * 256 MiB.
        base: u8,
        /// Size in 256 MiB units.
        size: u8,
        /// DPA Skip in 256 MiB units.
        skip: u8,
        /// Control bits besides Commit (IG, IW, Lock On Commit, ...).
        control: u16,
        /// Commit.
        commit: bool,
    },
    /// Commits a decoder per partition and enables decoding
    /// ([`guest::commit_every_partition`]).
    CommitAll,
    /// HDM Decoder Enable and Mem_Enable.
    Enable {
        /// HDM Decoder Enable.
        hdm: bool,
        /// Mem_Enable.
        mem: bool,
    },
    /// A raw access to BAR 0 (component and device registers) or, with
    /// `msix`, BAR 2 (MSI-X table and PBA).
    Bar {
        /// MSI-X BAR instead of the registers BAR.
        msix: bool,
        /// Offset (beyond the BAR too).
        offset: u32,
        /// Width 1-8.
        width: u8,
        /// Value to write, or read if none.
        value: Option<u64>,
    },
    /// A raw configuration space access.
    Config {
        /// Offset (past 4 KiB too).
        offset: u16,
        /// Width 1-8.
        width: u8,
        /// Value to write, or read if none.
        value: Option<u64>,
    },
}

/// One step.
#[derive(Arbitrary, Clone, Debug)]
pub enum Op {
    /// The guest does something.
    Guest(GuestOp),
    /// The operator does something.
    Operator(OperatorOp),
    /// A whole offer or release exchange (`flows.rs`).
    Flow(flows::Flow),
}

/// A whole input.
#[derive(Arbitrary, Clone, Debug)]
pub struct Input {
    /// The device.
    pub device: DeviceKind,
    /// The steps.
    pub ops: Vec<Op>,
}

/// The (dpa, len) ranges a pick names on the device now.
fn pick_ranges(rig: &Rig, p: Pick) -> Vec<(u64, u64)> {
    let dcd = rig.dev.memdev().dcd();
    let live = dcd.extents();
    let in_state = |s: ExtentState| -> Vec<(u64, u64)> {
        live.iter()
            .filter(|i| i.state == s)
            .map(|i| (i.extent.dpa, i.extent.len))
            .collect()
    };
    let nth = |n: u8| {
        live.get(usize::from(n) % live.len().max(1))
            .map(|i| &i.extent)
    };
    let one = match p {
        Pick::AllPending => return in_state(ExtentState::Pending),
        Pick::AllReleasePending => return in_state(ExtentState::ReleasePending),
        Pick::Live(n) => nth(n).map_or((0, 0), |e| (e.dpa, e.len)),
        Pick::Part { n, skip } => nth(n).map_or((0, 0), |e| {
            let block = dcd.regions()[usize::from(e.region)].block_size;
            (e.dpa + block * u64::from(skip), block)
        }),
        Pick::Region(span) => {
            let (off, len) = span.resolve(&rig.dev);
            let base = match span {
                Span::Blocks { region, .. } => {
                    let r = dcd.regions();
                    r[usize::from(region) % r.len()].base
                }
                Span::Raw { .. } => 0,
            };
            (base.wrapping_add(off), len)
        }
        Pick::Raw { dpa, len } => (dpa, len),
    };
    vec![one]
}

fn bar_access(rig: &mut Rig, bar: u8, offset: u64, width: u8, value: Option<u64>) {
    let len = usize::from(width % 8) + 1;
    match value {
        Some(v) => guest::bar_write(&mut rig.dev, bar, offset, len, v),
        None => {
            guest::bar_read(&mut rig.dev, bar, offset, len);
        }
    }
}

/// Runs a guest operation.
fn guest_op(rig: &mut Rig, g: &GuestOp) {
    let d = &mut rig.dev;
    match g {
        GuestOp::Mailbox {
            opcode,
            payload,
            declared_len,
            interrupts,
        } => {
            let len = declared_len.map_or(payload.len() as u64, u64::from);
            let extra = match interrupts % 4 {
                0 => 0,
                1 => CONTROL_MB_DOORBELL_INTERRUPT,
                2 => CONTROL_BACKGROUND_COMMAND_COMPLETE_INTERRUPT,
                _ => CONTROL_MB_DOORBELL_INTERRUPT | CONTROL_BACKGROUND_COMMAND_COMPLETE_INTERRUPT,
            };
            let opcode = opcode.value();
            let before = invariants::snapshot(rig);
            let r = guest::mailbox(&mut rig.dev, opcode, payload, len, extra);
            let dc_update =
                opcode == Opcode::AddDcResponse as u16 || opcode == Opcode::ReleaseDc as u16;
            if dc_update && refused(r.rc) {
                assert_eq!(
                    before,
                    invariants::snapshot(rig),
                    "refused {opcode:#06x} changed state"
                );
            }
        }
        GuestOp::DcResponse {
            add,
            picks,
            flags,
            count,
        } => {
            let ranges: Vec<ExtentRange> = picks
                .iter()
                .take(12)
                .flat_map(|&p| pick_ranges(rig, p))
                .take(32)
                .map(|(dpa, len)| ExtentRange::new(dpa, len))
                .collect();
            let mut p = count.unwrap_or(ranges.len() as u32).to_le_bytes().to_vec();
            p.extend([*flags, 0, 0, 0]);
            p.extend(encode_updated_extents(&ranges));
            let opcode = if *add {
                Opcode::AddDcResponse
            } else {
                Opcode::ReleaseDc
            } as u16;
            let before = invariants::snapshot(rig);
            let r = guest::mailbox(&mut rig.dev, opcode, &p, p.len() as u64, 0);
            assert!(r.output.is_empty(), "{opcode:#06x} has no output");
            if refused(r.rc) {
                assert_eq!(
                    before,
                    invariants::snapshot(rig),
                    "refused {opcode:#06x} changed state"
                );
            }
        }
        GuestOp::DrainEvents { log, clear } => {
            let log = log % 6;
            let r = guest::mailbox(d, Opcode::GetEventRecords as u16, &[log], 1, 0);
            if r.rc == 0 && *clear && r.output.len() >= 0x20 {
                let n = u16::from_le_bytes([r.output[0x14], r.output[0x15]]);
                let mut c = vec![log, 0, n as u8, 0, 0, 0];
                for i in 0..usize::from(n) {
                    let at = 0x20 + i * 128 + 0x14;
                    c.extend(r.output.get(at..at + 2).unwrap_or(&[0, 0]));
                }
                let len = c.len() as u64;
                guest::mailbox(d, Opcode::ClearEventRecords as u16, &c, len, 0);
            }
        }
        GuestOp::Doe {
            request,
            control,
            reads,
        } => {
            let request = &request[..request.len().min(64)];
            guest::doe_exchange(d, request, *control, usize::from(*reads));
        }
        GuestOp::CdatEntry { handle, reads } => {
            // Abort first, as Linux does before it uses a DOE mailbox: a
            // response left unread by earlier requests is dropped.
            guest::doe_exchange(d, &[], DOE_CTRL_ABORT, 0);
            let req = [0x0002_1e98, 3, u32::from(*handle) << 16];
            let out = guest::doe_exchange(d, &req, 1 << 31, usize::from(*reads));
            if let Some(&h) = out.first() {
                assert_eq!(h, 0x0002_1e98, "DOE response header");
            }
        }
        GuestOp::Decoder {
            index,
            base,
            size,
            skip,
            control,
            commit,
        } => {
            let p = DecoderProgram {
                index: u64::from(index % 5),
                base: WINDOW + u64::from(base % 4) * UNIT,
                size: u64::from(size % 3) * UNIT,
                skip: u64::from(skip % 3) * UNIT,
                control: u32::from(*control) & !(1 << 9) | (u32::from(*commit) << 9),
            };
            guest::program_decoder(d, &p);
        }
        GuestOp::CommitAll => guest::commit_every_partition(d, WINDOW),
        GuestOp::Enable { hdm, mem } => {
            guest::set_hdm_enable(d, *hdm);
            guest::set_mem_enable(d, *mem);
        }
        GuestOp::Bar {
            msix,
            offset,
            width,
            value,
        } => {
            let (bar, offset) = if *msix {
                (MSIX_BAR, u64::from(*offset % 0x1100))
            } else {
                (REGS_BAR, u64::from(*offset) % (REGS_BAR_SIZE + 0x100))
            };
            bar_access(rig, bar, offset, *width, *value);
        }
        GuestOp::Config {
            offset,
            width,
            value,
        } => {
            let off = offset % 0x1010;
            let len = usize::from(width % 8) + 1;
            match value {
                Some(v) => guest::cfg_write(d, off, len, *v),
                None => {
                    guest::cfg_read(d, off, len);
                }
            }
        }
    }
}

/// Whether return code `rc` says the device refused the command. Background
/// Command Started is not a refusal: a command a `background-hold` fault
/// holds has run, and answers with its own return code at completion.
fn refused(rc: u16) -> bool {
    rc != 0 && rc != RetCode::BackgroundCommandStarted.code()
}

/// Runs one input; panics on any broken invariant.
pub fn run(input: &Input) {
    execute(input);
}

/// How far a run got at any step (for measuring a corpus).
#[derive(Clone, Copy, Debug, Default)]
pub struct Reached {
    /// An extent was pending.
    pub pending: bool,
    /// An extent was accepted (held).
    pub accepted: bool,
    /// Some memory was mapped.
    pub mapped: bool,
    /// DC memory (an accepted extent) was mapped.
    pub dc_mapped: bool,
}

impl Reached {
    fn update(&mut self, rig: &Rig) {
        let dcd = rig.dev.memdev().dcd();
        self.pending |= dcd.live_count() > dcd.held_count();
        self.accepted |= dcd.held_count() > 0;
        let slots = rig.mapper.slots();
        self.mapped |= !slots.is_empty();
        let dc_base = dcd.regions().first().map_or(u64::MAX, |r| r.base);
        self.dc_mapped |= slots.iter().any(|s| s.gpa >= WINDOW + dc_base);
    }
}

/// Runs one input and hands back the device, the operator's state and how
/// far it got.
pub fn execute(input: &Input) -> (Rig, Operator, Reached) {
    let mut rig = Rig::new(input.device);
    let mut operator = Operator::default();
    let mut reached = Reached::default();
    for op in input.ops.iter().take(MAX_OPS) {
        match op {
            Op::Guest(g) => guest_op(&mut rig, g),
            Op::Flow(f) => flows::run(&mut rig, &mut operator, *f),
            Op::Operator(o) => {
                let before = invariants::snapshot(&rig);
                if let Err(e) = operator.apply(&mut rig.dev, o) {
                    assert_eq!(
                        before,
                        invariants::snapshot(&rig),
                        "refused operator request changed state: {e:?}"
                    );
                }
            }
        }
        invariants::check(&mut rig, &operator);
        reached.update(&rig);
    }
    (rig, operator, reached)
}

#[cfg(test)]
mod tests;
