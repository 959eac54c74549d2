//! Firmware-style resource assignment for one host bridge.
//!
//! Given the host bridge's bus range and address windows and the tree of
//! functions below it, [`assign_resources`] numbers the buses depth-first,
//! adds every function to the segment at its BDF, places each BAR
//! size-aligned (64-bit prefetchable BARs in the 64-bit window, all other
//! memory BARs in the 32-bit window, I/O BARs in the I/O window), opens each
//! bridge's windows just wide enough for what is below it (1 MiB / 4 KiB
//! granularity), and enables Memory Space, I/O Space (where used) and Bus
//! Master. All programming goes through guest-visible configuration writes,
//! so the BARs get mapped on the buses exactly as if firmware had done it.
//! Linux keeps such assignments as long as they fit the host bridge `_CRS`.
//!
//! Placement: at each level, items (BARs and child bridge windows) are
//! placed largest alignment first with [`AddressAllocator`], which packs
//! power-of-two sizes without holes.

use std::sync::PoisonError;

use thiserror::Error;
use vm_allocator::{AddressAllocator, AllocPolicy};

use arch::layout;

use super::bar::{bar_offset, BarInfo, BarKind, PciBar};
use super::bdf::{Bdf, DevFn};
use super::bridge::{window_writes, Window, IO_WINDOW_GRANULARITY, MEMORY_WINDOW_GRANULARITY};
use super::config::{
    COMMAND, COMMAND_BUS_MASTER, COMMAND_IO_SPACE, COMMAND_MEMORY_SPACE, PRIMARY_BUS,
};
use super::device::SharedPciDevice;
use super::segment::{PciSegment, SegmentError};

/// A base and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressRange {
    /// First address.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
}

/// What a host bridge decodes (its `_CRS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostBridgeResources {
    /// Root bus number.
    pub bus_start: u8,
    /// Last bus number it may hand out.
    pub bus_end: u8,
    /// 32-bit memory window.
    pub mmio32: AddressRange,
    /// 64-bit memory window (prefetchable BARs and windows).
    pub mmio64: AddressRange,
    /// I/O port window, if the host bridge decodes I/O.
    pub io: Option<AddressRange>,
}

impl HostBridgeResources {
    /// The whole of segment 0 from [`layout`]: every ECAM bus, the PCI
    /// 32-bit and 64-bit windows and the PCI I/O window.
    pub fn from_layout() -> Self {
        Self {
            bus_start: layout::PCI_ECAM_BUS_START,
            bus_end: layout::PCI_ECAM_BUS_END,
            mmio32: AddressRange {
                base: layout::PCI_MMIO32_START,
                size: layout::PCI_MMIO32_SIZE,
            },
            mmio64: AddressRange {
                base: layout::PCI_MMIO64_START,
                size: layout::PCI_MMIO64_SIZE,
            },
            io: Some(AddressRange {
                base: u64::from(layout::PCI_IO_START),
                size: u64::from(layout::PCI_IO_SIZE),
            }),
        }
    }
}

/// A function in the tree handed to [`assign_resources`].
pub enum PciNode {
    /// A function that is not a bridge.
    Function {
        /// Device and function number on its bus.
        devfn: DevFn,
        /// The function.
        device: SharedPciDevice,
    },
    /// A type 1 bridge (root port, switch port) and what is below it.
    Bridge {
        /// Device and function number on its (primary) bus.
        devfn: DevFn,
        /// The bridge function.
        device: SharedPciDevice,
        /// Functions on its secondary bus.
        children: Vec<PciNode>,
    },
}

/// Errors from resource assignment.
#[derive(Debug, Error)]
pub enum ResourceError {
    /// More bridges than bus numbers.
    #[error("out of bus numbers (last is {0})")]
    BusesExhausted(u8),
    /// A window has no room for a BAR or a bridge window.
    #[error("no room for {size:#x} bytes ({what}) at {bdf}")]
    Exhausted {
        /// Function the item belongs to.
        bdf: Bdf,
        /// Which item.
        what: String,
        /// Its size.
        size: u64,
    },
    /// A window size or address computation overflowed.
    #[error("address computation overflow below {0}")]
    Overflow(Bdf),
    /// A host bridge window is malformed.
    #[error("invalid host bridge window: {0}")]
    Window(vm_allocator::Error),
    /// The segment refused a function.
    #[error(transparent)]
    Segment(#[from] SegmentError),
}

/// A BAR as placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssignedBar {
    /// Function.
    pub bdf: Bdf,
    /// BAR index.
    pub index: u8,
    /// What the BAR is.
    pub bar: PciBar,
    /// Address given to it.
    pub address: u64,
}

/// A bridge as programmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssignedBridge {
    /// The bridge function.
    pub bdf: Bdf,
    /// Secondary bus number.
    pub secondary_bus: u8,
    /// Subordinate bus number.
    pub subordinate_bus: u8,
    /// Non-prefetchable memory window.
    pub memory: Option<Window>,
    /// Prefetchable (64-bit) memory window.
    pub prefetchable: Option<Window>,
    /// I/O window.
    pub io: Option<Window>,
}

/// The outcome of [`assign_resources`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Every BAR placed, depth-first.
    pub bars: Vec<AssignedBar>,
    /// Every bridge programmed, depth-first.
    pub bridges: Vec<AssignedBridge>,
    /// Highest bus number in use.
    pub last_bus: u8,
}

/// Window classes, also indexes into per-class arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Memory = 0,
    Prefetchable = 1,
    Io = 2,
}

const CLASSES: [Class; 3] = [Class::Memory, Class::Prefetchable, Class::Io];

impl Class {
    fn of(bar: &PciBar) -> Self {
        match bar.kind {
            BarKind::Io => Class::Io,
            BarKind::Memory64 if bar.prefetchable => Class::Prefetchable,
            BarKind::Memory32 | BarKind::Memory64 => Class::Memory,
        }
    }

    fn granularity(self) -> u64 {
        match self {
            Class::Io => IO_WINDOW_GRANULARITY,
            Class::Memory | Class::Prefetchable => MEMORY_WINDOW_GRANULARITY,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Class::Memory => "memory window",
            Class::Prefetchable => "prefetchable window",
            Class::Io => "I/O window",
        }
    }
}

/// Size and alignment a bridge window needs (size 0: none).
#[derive(Clone, Copy, Debug, Default)]
struct Need {
    size: u64,
    align: u64,
}

struct BridgePlan {
    secondary: u8,
    subordinate: u8,
    children: Vec<Plan>,
    need: [Need; 3],
    windows: [Option<Window>; 3],
}

struct Plan {
    bdf: Bdf,
    device: SharedPciDevice,
    bars: Vec<BarInfo>,
    addresses: Vec<u64>,
    bridge: Option<BridgePlan>,
}

enum Target {
    Bar { child: usize, bar: usize },
    Window { child: usize },
}

struct Item {
    class: Class,
    size: u64,
    align: u64,
    target: Target,
}

/// Numbers the buses below `node` and reads every function's BARs.
fn plan(node: PciNode, bus: u8, next_bus: &mut u16, bus_end: u8) -> Result<Plan, ResourceError> {
    let (devfn, device, children) = match node {
        PciNode::Function { devfn, device } => (devfn, device, None),
        PciNode::Bridge {
            devfn,
            device,
            children,
        } => (devfn, device, Some(children)),
    };
    let bdf = Bdf::from_parts(bus, devfn);
    let bars = device.lock().unwrap_or_else(PoisonError::into_inner).bars();
    let bridge = match children {
        None => None,
        Some(children) => {
            let secondary = u8::try_from(*next_bus)
                .ok()
                .filter(|&b| b <= bus_end)
                .ok_or(ResourceError::BusesExhausted(bus_end))?;
            *next_bus += 1;
            let children = children
                .into_iter()
                .map(|c| plan(c, secondary, next_bus, bus_end))
                .collect::<Result<Vec<_>, _>>()?;
            Some(BridgePlan {
                secondary,
                subordinate: (*next_bus - 1) as u8,
                children,
                need: [Need::default(); 3],
                windows: [None; 3],
            })
        }
    };
    Ok(Plan {
        bdf,
        device,
        addresses: vec![0; bars.len()],
        bars,
        bridge,
    })
}

/// The BARs and bridge windows of `children`, largest alignment first.
fn items(children: &[Plan]) -> Vec<Item> {
    let mut out = Vec::new();
    for (ci, p) in children.iter().enumerate() {
        for (bi, b) in p.bars.iter().enumerate() {
            out.push(Item {
                class: Class::of(&b.bar),
                size: b.size(),
                align: b.size(),
                target: Target::Bar { child: ci, bar: bi },
            });
        }
        if let Some(br) = &p.bridge {
            for class in CLASSES {
                let need = br.need[class as usize];
                if need.size > 0 {
                    out.push(Item {
                        class,
                        size: need.size,
                        align: need.align,
                        target: Target::Window { child: ci },
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| b.align.cmp(&a.align).then(b.size.cmp(&a.size)));
    out
}

/// Computes, bottom-up, how large each bridge's windows must be.
fn measure(p: &mut Plan) -> Result<(), ResourceError> {
    let bdf = p.bdf;
    let Some(br) = p.bridge.as_mut() else {
        return Ok(());
    };
    for c in br.children.iter_mut() {
        measure(c)?;
    }
    let items = items(&br.children);
    for class in CLASSES {
        let gran = class.granularity();
        let mut cursor: u64 = 0;
        let mut align = gran;
        for it in items.iter().filter(|i| i.class == class) {
            cursor = cursor
                .checked_next_multiple_of(it.align)
                .and_then(|c| c.checked_add(it.size))
                .ok_or(ResourceError::Overflow(bdf))?;
            align = align.max(it.align);
        }
        let size = cursor
            .checked_next_multiple_of(gran)
            .ok_or(ResourceError::Overflow(bdf))?;
        br.need[class as usize] = Need { size, align };
    }
    Ok(())
}

/// Places the items of `children` in `allocators`, then recurses into the
/// windows given to bridges.
fn allocate(
    children: &mut [Plan],
    allocators: &mut [Option<AddressAllocator>; 3],
) -> Result<(), ResourceError> {
    for it in items(children) {
        let (bdf, what) = match it.target {
            Target::Bar { child, bar } => (
                children.get(child).map(|p| p.bdf),
                format!(
                    "BAR{}",
                    children
                        .get(child)
                        .and_then(|p| p.bars.get(bar))
                        .map_or(0, |b| b.index)
                ),
            ),
            Target::Window { child } => (
                children.get(child).map(|p| p.bdf),
                it.class.name().to_string(),
            ),
        };
        let bdf = bdf.unwrap_or(Bdf::from_routing_id(0));
        let exhausted = || ResourceError::Exhausted {
            bdf,
            what: what.clone(),
            size: it.size,
        };
        let range = allocators[it.class as usize]
            .as_mut()
            .ok_or_else(exhausted)?
            .allocate(it.size, it.align, AllocPolicy::FirstMatch)
            .map_err(|_| exhausted())?;
        match it.target {
            Target::Bar { child, bar } => {
                if let Some(a) = children
                    .get_mut(child)
                    .and_then(|p| p.addresses.get_mut(bar))
                {
                    *a = range.start();
                }
            }
            Target::Window { child } => {
                if let Some(br) = children.get_mut(child).and_then(|p| p.bridge.as_mut()) {
                    br.windows[it.class as usize] = Window::from_size(range.start(), it.size);
                }
            }
        }
    }
    for p in children.iter_mut() {
        if let Some(br) = p.bridge.as_mut() {
            let mut sub: [Option<AddressAllocator>; 3] = [None, None, None];
            for class in CLASSES {
                if let Some(w) = br.windows[class as usize] {
                    sub[class as usize] = Some(
                        AddressAllocator::new(w.base, w.size()).map_err(ResourceError::Window)?,
                    );
                }
            }
            allocate(&mut br.children, &mut sub)?;
        }
    }
    Ok(())
}

/// Adds the functions to the segment and programs them through
/// configuration writes.
fn program(segment: &mut PciSegment, p: Plan, out: &mut Assignment) -> Result<(), ResourceError> {
    let bdf = p.bdf;
    segment.add_device(bdf, p.device.clone())?;
    let mut command = COMMAND_MEMORY_SPACE | COMMAND_BUS_MASTER;
    for (b, &address) in p.bars.iter().zip(&p.addresses) {
        let off = bar_offset(b.index);
        segment.config_write(bdf, off, &(address as u32).to_le_bytes());
        if b.kind() == BarKind::Memory64 {
            segment.config_write(bdf, off + 4, &((address >> 32) as u32).to_le_bytes());
        }
        if b.kind() == BarKind::Io {
            command |= COMMAND_IO_SPACE;
        }
        out.bars.push(AssignedBar {
            bdf,
            index: b.index,
            bar: b.bar,
            address,
        });
    }
    if let Some(br) = p.bridge {
        let [memory, prefetchable, io] = br.windows;
        segment.config_write(bdf, PRIMARY_BUS, &[bdf.bus(), br.secondary, br.subordinate]);
        for (off, bytes) in window_writes(io, memory, prefetchable) {
            segment.config_write(bdf, off, &bytes);
        }
        if io.is_some() {
            command |= COMMAND_IO_SPACE;
        }
        out.bridges.push(AssignedBridge {
            bdf,
            secondary_bus: br.secondary,
            subordinate_bus: br.subordinate,
            memory,
            prefetchable,
            io,
        });
        out.last_bus = out.last_bus.max(br.subordinate);
        for c in br.children {
            program(segment, c, out)?;
        }
    }
    let mut cur = [0u8; 2];
    segment.config_read(bdf, COMMAND, &mut cur);
    let command = u16::from_le_bytes(cur) | command;
    segment.config_write(bdf, COMMAND, &command.to_le_bytes());
    Ok(())
}

/// Numbers buses, places BARs and bridge windows for the functions `nodes`
/// on the host bridge's root bus, adds them all to `segment` and enables
/// them. Call once per host bridge, with disjoint bus ranges and windows.
pub fn assign_resources(
    segment: &mut PciSegment,
    host: &HostBridgeResources,
    nodes: Vec<PciNode>,
) -> Result<Assignment, ResourceError> {
    let mut next_bus = u16::from(host.bus_start) + 1;
    let mut plans = nodes
        .into_iter()
        .map(|n| plan(n, host.bus_start, &mut next_bus, host.bus_end))
        .collect::<Result<Vec<_>, _>>()?;
    for p in plans.iter_mut() {
        measure(p)?;
    }
    let window =
        |r: &AddressRange| AddressAllocator::new(r.base, r.size).map_err(ResourceError::Window);
    let mut allocators = [
        Some(window(&host.mmio32)?),
        Some(window(&host.mmio64)?),
        host.io.as_ref().map(window).transpose()?,
    ];
    allocate(&mut plans, &mut allocators)?;
    let mut out = Assignment {
        last_bus: host.bus_start,
        ..Default::default()
    };
    for p in plans {
        program(segment, p, &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Bus;
    use crate::pci::bridge::read_bridge_windows;
    use crate::pci::config::{ConfigSpace, HeaderType, PciIds};
    use crate::pci::device::PciFunction;
    use crate::pci::host_bridge::HostBridge;
    use crate::pci::root_port::{RootPort, RootPortConfig};
    use crate::pci::PciDevice;
    use std::sync::{Arc, Mutex};

    const MIB: u64 = layout::MIB;

    fn endpoint(bars: &[(u8, PciBar)]) -> Arc<Mutex<PciFunction>> {
        let mut c = ConfigSpace::new(HeaderType::Endpoint, &PciIds::default());
        for &(i, b) in bars {
            c.add_bar(i, b).unwrap();
        }
        Arc::new(Mutex::new(PciFunction::new(c)))
    }

    fn root_port(n: u8) -> Arc<Mutex<RootPort>> {
        Arc::new(Mutex::new(RootPort::new(RootPortConfig::new(n)).unwrap()))
    }

    fn df(d: u8) -> DevFn {
        DevFn::new(d, 0).unwrap()
    }

    fn segment() -> (PciSegment, Arc<Bus>, Arc<Bus>) {
        let mmio = Arc::new(Bus::new());
        let pio = Arc::new(Bus::new());
        (PciSegment::new(0, mmio.clone(), pio.clone()), mmio, pio)
    }

    #[test]
    fn assigns_a_realistic_tree() {
        let (mut seg, mmio, pio) = segment();
        let rp1 = root_port(1);
        // A CXL-like root port with its own component-register BAR.
        let rp2 = root_port(2);
        rp2.lock()
            .unwrap()
            .function_mut()
            .config_mut()
            .add_bar(0, PciBar::memory64(0x1_0000, false))
            .unwrap();
        let ep1 = endpoint(&[
            (0, PciBar::memory64(256 * MIB, true)),
            (2, PciBar::memory64(0x1_0000, false)),
            (4, PciBar::memory32(0x1000)),
        ]);
        let ep2 = endpoint(&[(0, PciBar::io(0x100)), (2, PciBar::memory64(2 * MIB, true))]);
        let ep3 = endpoint(&[(1, PciBar::memory32(0x4000))]);
        let nodes = vec![
            PciNode::Function {
                devfn: df(0),
                device: Arc::new(Mutex::new(HostBridge::new())),
            },
            PciNode::Bridge {
                devfn: df(1),
                device: rp1.clone(),
                children: vec![PciNode::Function {
                    devfn: df(0),
                    device: ep1.clone(),
                }],
            },
            PciNode::Bridge {
                devfn: df(2),
                device: rp2.clone(),
                children: vec![PciNode::Function {
                    devfn: df(0),
                    device: ep2.clone(),
                }],
            },
            PciNode::Function {
                devfn: df(3),
                device: ep3.clone(),
            },
        ];
        let host = HostBridgeResources::from_layout();
        let a = assign_resources(&mut seg, &host, nodes).unwrap();
        assert_eq!(a.last_bus, 2);
        assert_eq!(seg.bdfs().len(), 6);
        assert_eq!(a.bridges.len(), 2);
        let (b1, b2) = (a.bridges[0], a.bridges[1]);
        assert_eq!((b1.secondary_bus, b1.subordinate_bus), (1, 1));
        assert_eq!((b2.secondary_bus, b2.subordinate_bus), (2, 2));

        let host32 = Window::from_size(host.mmio32.base, host.mmio32.size).unwrap();
        let host64 = Window::from_size(host.mmio64.base, host.mmio64.size).unwrap();
        for bar in &a.bars {
            assert_eq!(bar.address % bar.bar.size, 0, "{bar:?} aligned");
            let parent = a
                .bridges
                .iter()
                .find(|b| b.secondary_bus == bar.bdf.bus())
                .copied();
            let window = match (Class::of(&bar.bar), parent) {
                (Class::Prefetchable, Some(p)) => p.prefetchable.unwrap(),
                (Class::Memory, Some(p)) => p.memory.unwrap(),
                (Class::Io, Some(p)) => p.io.unwrap(),
                (Class::Prefetchable, None) => host64,
                (Class::Memory, None) => host32,
                (Class::Io, None) => unreachable!(),
            };
            assert!(
                window.contains(bar.address, bar.bar.size),
                "{bar:?} in {window:?}"
            );
        }
        for b in &a.bridges {
            for w in [b.memory, b.prefetchable].into_iter().flatten() {
                assert_eq!(w.base % MIB, 0);
                assert_eq!(w.size() % MIB, 0);
                assert!(host32.contains(w.base, w.size()) || host64.contains(w.base, w.size()));
            }
        }
        assert!(b1.io.is_none());
        assert_eq!(b2.io.unwrap().size(), 0x1000);
        assert_eq!(b1.prefetchable.unwrap().size(), 256 * MIB);
        // The bridge's own BAR is in the host window, not its own window.
        let rp2_bar = a
            .bars
            .iter()
            .find(|b| b.bdf == Bdf::new(0, 2, 0).unwrap())
            .unwrap();
        assert!(host32.contains(rp2_bar.address, 0x1_0000));
        assert!(!b2.memory.is_some_and(|w| w.contains(rp2_bar.address, 1)));

        // Programmed through config space, visible as the guest sees it.
        let w = rp1.lock().unwrap().windows();
        assert_eq!(
            (w.primary_bus, w.secondary_bus, w.subordinate_bus),
            (0, 1, 1)
        );
        assert_eq!(w.memory, b1.memory);
        assert_eq!(w.prefetchable, b1.prefetchable);
        assert_eq!(w.io, None);
        let w2 = read_bridge_windows(rp2.lock().unwrap().function().config());
        assert_eq!(w2.io, b2.io);
        let ep1_bars = ep1.lock().unwrap().bars();
        assert_eq!(ep1_bars[0].address, b1.prefetchable.unwrap().base);
        let mut cmd = [0u8; 2];
        ep2.lock().unwrap().config_read(COMMAND, &mut cmd);
        assert_eq!(u16::from_le_bytes(cmd), 0x7);
        ep3.lock().unwrap().config_read(COMMAND, &mut cmd);
        assert_eq!(u16::from_le_bytes(cmd), 0x6);

        // Every BAR decodes on its bus.
        let mem_bars = a.bars.iter().filter(|b| b.bar.kind.is_memory()).count();
        assert_eq!(mmio.ranges().len(), mem_bars);
        assert_eq!(pio.ranges().len(), 1);
        assert!(mmio.resolve(ep1_bars[0].address).is_some());
    }

    #[test]
    fn nested_bridges_cover_children() {
        let (mut seg, _, _) = segment();
        let upstream = root_port(0);
        let inner = root_port(1);
        let ep = endpoint(&[
            (0, PciBar::memory64(4 * MIB, true)),
            (2, PciBar::memory32(0x1000)),
        ]);
        let nodes = vec![PciNode::Bridge {
            devfn: df(1),
            device: upstream.clone(),
            children: vec![
                PciNode::Bridge {
                    devfn: df(0),
                    device: inner.clone(),
                    children: vec![PciNode::Function {
                        devfn: df(0),
                        device: ep,
                    }],
                },
                PciNode::Bridge {
                    devfn: df(1),
                    device: root_port(2),
                    children: vec![],
                },
            ],
        }];
        let host = HostBridgeResources {
            bus_start: 0x10,
            ..HostBridgeResources::from_layout()
        };
        let a = assign_resources(&mut seg, &host, nodes).unwrap();
        let w_up = upstream.lock().unwrap().windows();
        let w_in = inner.lock().unwrap().windows();
        assert_eq!(
            (w_up.primary_bus, w_up.secondary_bus, w_up.subordinate_bus),
            (0x10, 0x11, 0x13)
        );
        assert_eq!(
            (w_in.primary_bus, w_in.secondary_bus, w_in.subordinate_bus),
            (0x11, 0x12, 0x12)
        );
        let (up, inn) = (w_up.prefetchable.unwrap(), w_in.prefetchable.unwrap());
        assert!(up.contains(inn.base, inn.size()));
        let (up, inn) = (w_up.memory.unwrap(), w_in.memory.unwrap());
        assert!(up.contains(inn.base, inn.size()));
        assert_eq!(a.last_bus, 0x13);
        // The empty bridge has closed windows.
        let empty = a.bridges.iter().find(|b| b.secondary_bus == 0x13).unwrap();
        assert_eq!(
            (empty.memory, empty.prefetchable, empty.io),
            (None, None, None)
        );
        assert!(seg.device(Bdf::new(0x12, 0, 0).unwrap()).is_some());
    }

    #[test]
    fn exhaustion_is_an_error() {
        let (mut seg, _, _) = segment();
        let host = HostBridgeResources {
            bus_start: 5,
            bus_end: 5,
            ..HostBridgeResources::from_layout()
        };
        let nodes = vec![PciNode::Bridge {
            devfn: df(1),
            device: root_port(0),
            children: vec![],
        }];
        assert!(matches!(
            assign_resources(&mut seg, &host, nodes),
            Err(ResourceError::BusesExhausted(5))
        ));

        let small = HostBridgeResources {
            mmio32: AddressRange {
                base: layout::PCI_MMIO32_START,
                size: MIB,
            },
            io: None,
            ..HostBridgeResources::from_layout()
        };
        let big = || endpoint(&[(0, PciBar::memory32(2 * MIB))]);
        let nodes = vec![PciNode::Function {
            devfn: df(0),
            device: big(),
        }];
        assert!(matches!(
            assign_resources(&mut seg, &small, nodes),
            Err(ResourceError::Exhausted { .. })
        ));
        let io = endpoint(&[(0, PciBar::io(0x10))]);
        let nodes = vec![PciNode::Function {
            devfn: df(0),
            device: io,
        }];
        assert!(matches!(
            assign_resources(&mut seg, &small, nodes),
            Err(ResourceError::Exhausted { .. })
        ));
        // The same BDF twice.
        let nodes = vec![
            PciNode::Function {
                devfn: df(4),
                device: endpoint(&[]),
            },
            PciNode::Function {
                devfn: df(4),
                device: endpoint(&[]),
            },
        ];
        assert!(matches!(
            assign_resources(&mut seg, &HostBridgeResources::from_layout(), nodes),
            Err(ResourceError::Segment(_))
        ));
    }
}
