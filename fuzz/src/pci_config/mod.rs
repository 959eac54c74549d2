//! The `pci_config` target: PCI configuration space of the machine's real
//! segment (PCI0's host bridge and a CXL hierarchy, `machine.rs`) through
//! ECAM (MMIO) and through the 0xcf8/0xcfc ports, as vCPU exits reach them
//! (`Bus::read`/`write` of 1 to 8 bytes), with BAR moves (over ECAM, the
//! CHBS, the windows, other BARs, anywhere), Command register changes, and
//! accesses to whatever the buses decode afterwards (BARs, host bridge
//! component registers, windows). `invariants::check` runs after every step.

pub mod invariants;
pub mod machine;

use arbitrary::Arbitrary;
use arch::layout::{PCI_CONFIG_IO_PORT, PCI_ECAM_START};

pub use self::machine::{Machine, TopologyKind};

/// Most operations run per input.
pub const MAX_OPS: usize = 128;

/// A function: one that exists (by index), or any bus/device/function.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum BdfSel {
    /// The n-th function of the segment.
    Existing(u8),
    /// Any routing id (bus << 8 | device << 3 | function).
    Any(u16),
}

/// Where to move a BAR.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Target {
    /// Onto the n-th range the MMIO bus decodes now (ECAM, a CHBS, a window,
    /// another BAR), `offset` bytes in.
    Over {
        /// Which range.
        n: u8,
        /// Bytes into it.
        offset: u32,
    },
    /// Anywhere.
    Raw(u64),
    /// All-ones (BAR sizing).
    Sizing,
    /// Zero.
    Zero,
}

/// One step.
#[derive(Arbitrary, Clone, Debug)]
pub enum PciOp {
    /// A configuration access through ECAM.
    Ecam {
        /// Function.
        bdf: BdfSel,
        /// Register (up to 4 KiB, and across into the next function).
        offset: u16,
        /// Width 1-8.
        width: u8,
        /// Value to write, or read if none.
        value: Option<u64>,
    },
    /// CONFIG_ADDRESS, then one access to CONFIG_DATA.
    Mechanism1 {
        /// Function.
        bdf: BdfSel,
        /// Register (dword aligned by the mechanism).
        register: u8,
        /// Byte in the data window (0-3).
        byte: u8,
        /// Width 1-4.
        width: u8,
        /// Value to write, or read if none.
        value: Option<u32>,
        /// The Enable bit.
        enable: bool,
    },
    /// A raw access to ports 0xcf8..0xd00.
    Port {
        /// Port offset from 0xcf8 (0-7, and past the end).
        port: u8,
        /// Width 1-4.
        width: u8,
        /// Value to write, or read if none.
        value: Option<u32>,
    },
    /// Moves a BAR (or a bridge's BAR) through ECAM or the ports, then
    /// enables decoding.
    MoveBar {
        /// Function.
        bdf: BdfSel,
        /// BAR index 0-5.
        bar: u8,
        /// Where to.
        target: Target,
        /// Write the upper dword into the next BAR too (64-bit BARs).
        wide: bool,
        /// Through 0xcf8/0xcfc instead of ECAM.
        ports: bool,
        /// Command register value written afterwards.
        command: u16,
    },
    /// An access to the n-th range of the MMIO bus (a BAR, a CHBS, a
    /// window, ECAM).
    Mmio {
        /// Which range.
        n: u8,
        /// Offset into it.
        offset: u32,
        /// Width 1-8.
        width: u8,
        /// Value to write, or read if none.
        value: Option<u64>,
    },
}

fn routing_id(m: &Machine, sel: BdfSel) -> u16 {
    match sel {
        BdfSel::Existing(n) => m.ids[usize::from(n) % m.ids.len()].0,
        BdfSel::Any(rid) => rid,
    }
}

fn width(w: u8, max: u8) -> usize {
    usize::from(w % max) + 1
}

fn ecam_addr(rid: u16, offset: u64) -> u64 {
    PCI_ECAM_START + (u64::from(rid) << 12) + offset
}

fn access(bus: &devices::Bus, addr: u64, len: usize, value: Option<u64>) {
    match value {
        Some(v) => {
            let _ = bus.write(addr, &v.to_le_bytes()[..len]);
        }
        None => {
            let mut d = [0u8; 8];
            let _ = bus.read(addr, &mut d[..len]);
        }
    }
}

/// A config write of `len` bytes through ECAM or the ports.
fn config_write(m: &Machine, rid: u16, offset: u16, value: u32, ports: bool) {
    if ports && offset < 0x100 {
        let port = u64::from(PCI_CONFIG_IO_PORT);
        let address = (1u32 << 31) | (u32::from(rid) << 8) | u32::from(offset & 0xfc);
        let _ = m.io.write(port, &address.to_le_bytes());
        let _ = m.io.write(port + 4, &value.to_le_bytes());
    } else {
        let _ = m
            .mmio
            .write(ecam_addr(rid, u64::from(offset)), &value.to_le_bytes());
    }
}

fn target_addr(m: &Machine, t: Target) -> u64 {
    match t {
        Target::Over { n, offset } => {
            let ranges = m.mmio.ranges();
            let r = ranges[usize::from(n) % ranges.len()];
            r.base + u64::from(offset) % r.len
        }
        Target::Raw(a) => a,
        Target::Sizing => u64::MAX,
        Target::Zero => 0,
    }
}

/// Runs one step.
fn step(m: &Machine, op: &PciOp) {
    match *op {
        PciOp::Ecam {
            bdf,
            offset,
            width: w,
            value,
        } => {
            let rid = routing_id(m, bdf);
            let offset = u64::from(offset % 0x1008);
            access(&m.mmio, ecam_addr(rid, offset), width(w, 8), value);
        }
        PciOp::Mechanism1 {
            bdf,
            register,
            byte,
            width: w,
            value,
            enable,
        } => {
            let rid = routing_id(m, bdf);
            let address = (u32::from(enable) << 31) | (u32::from(rid) << 8) | u32::from(register);
            let port = u64::from(PCI_CONFIG_IO_PORT);
            let _ = m.io.write(port, &address.to_le_bytes());
            let data = port + 4 + u64::from(byte % 4);
            access(&m.io, data, width(w, 4), value.map(u64::from));
        }
        PciOp::Port {
            port,
            width: w,
            value,
        } => {
            let addr = u64::from(PCI_CONFIG_IO_PORT) + u64::from(port % 10);
            access(&m.io, addr, width(w, 4), value.map(u64::from));
        }
        PciOp::MoveBar {
            bdf,
            bar,
            target,
            wide,
            ports,
            command,
        } => {
            let rid = routing_id(m, bdf);
            let reg = 0x10 + 4 * u16::from(bar % 6);
            let addr = target_addr(m, target);
            config_write(m, rid, reg, addr as u32, ports);
            if wide && reg < 0x24 {
                config_write(m, rid, reg + 4, (addr >> 32) as u32, ports);
            }
            config_write(m, rid, 0x04, u32::from(command), ports);
        }
        PciOp::Mmio {
            n,
            offset,
            width: w,
            value,
        } => {
            let ranges = m.mmio.ranges();
            let r = ranges[usize::from(n) % ranges.len()];
            let addr = r.base + u64::from(offset) % r.len;
            access(&m.mmio, addr, width(w, 8), value);
        }
    }
}

/// A whole input.
#[derive(Arbitrary, Clone, Debug)]
pub struct Input {
    /// The machine.
    pub topology: TopologyKind,
    /// The steps.
    pub ops: Vec<PciOp>,
}

/// Runs one input and hands the machine back; panics on any broken
/// invariant.
pub fn execute(input: &Input) -> Machine {
    let m = Machine::new(input.topology);
    invariants::check(&m);
    for op in input.ops.iter().take(MAX_OPS) {
        step(&m, op);
        invariants::check(&m);
    }
    m
}

/// Runs one input.
pub fn run(input: &Input) {
    execute(input);
}

#[cfg(test)]
mod tests;
