//! Interrupt delivery over KVM: the GSI routing table, irqfd-backed legacy
//! lines, and MSI/MSI-X vector groups.
//!
//! KVM_SET_GSI_ROUTING replaces the whole table, so [`GsiRouter`] keeps every
//! route (the PC's legacy wiring plus each MSI vector) and pushes the whole
//! table on each change.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use arch::layout::{IOAPIC_NUM_PINS, MSI_GSI_START};
use devices::interrupt::{InterruptLine, MsiAllocator, MsiGroup, MsiMessage};
use kvm_bindings::{
    kvm_irq_routing_entry, kvm_irq_routing_entry__bindgen_ty_1, kvm_irq_routing_irqchip,
    kvm_irq_routing_msi, KvmIrqRouting, KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER,
    KVM_IRQCHIP_PIC_SLAVE, KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQ_ROUTING_MSI,
};
use kvm_ioctls::VmFd;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// Highest GSI KVM accepts in a routing table (KVM_MAX_IRQ_ROUTES).
pub const MAX_GSI: u32 = 4096;

fn irqchip_route(gsi: u32, irqchip: u32, pin: u32) -> kvm_irq_routing_entry {
    kvm_irq_routing_entry {
        gsi,
        type_: KVM_IRQ_ROUTING_IRQCHIP,
        u: kvm_irq_routing_entry__bindgen_ty_1 {
            irqchip: kvm_irq_routing_irqchip { irqchip, pin },
        },
        ..Default::default()
    }
}

fn msi_route(gsi: u32, msg: MsiMessage) -> kvm_irq_routing_entry {
    kvm_irq_routing_entry {
        gsi,
        type_: KVM_IRQ_ROUTING_MSI,
        u: kvm_irq_routing_entry__bindgen_ty_1 {
            msi: kvm_irq_routing_msi {
                address_lo: msg.address as u32,
                address_hi: (msg.address >> 32) as u32,
                data: msg.data,
                ..Default::default()
            },
        },
        ..Default::default()
    }
}

/// The PC's legacy interrupt wiring, as real chipsets have it: ISA IRQs
/// 0..16 to the PICs (IRQ 2 is the cascade), GSIs to IOAPIC pins 1:1 except
/// that GSI 0 (the PIT) drives pin 2, which the MADT's IRQ0 -> GSI2 override
/// tells the guest.
pub fn legacy_routes() -> Vec<kvm_irq_routing_entry> {
    let mut v = Vec::new();
    for i in 0..16 {
        if i == 2 {
            continue;
        }
        let (chip, pin) = if i < 8 {
            (KVM_IRQCHIP_PIC_MASTER, i)
        } else {
            (KVM_IRQCHIP_PIC_SLAVE, i - 8)
        };
        v.push(irqchip_route(i, chip, pin));
    }
    for i in 0..IOAPIC_NUM_PINS {
        match i {
            0 => v.push(irqchip_route(0, KVM_IRQCHIP_IOAPIC, 2)),
            2 => {}
            _ => v.push(irqchip_route(i, KVM_IRQCHIP_IOAPIC, i)),
        }
    }
    v
}

/// Something that can install a whole routing table (KVM, or a test fake).
pub trait RoutingTable: Send + Sync {
    /// Replaces the routing table.
    fn set_routes(&self, routes: &[kvm_irq_routing_entry]) -> io::Result<()>;
    /// Connects `fd` to `gsi` (irqfd).
    fn register_irqfd(&self, fd: &EventFd, gsi: u32) -> io::Result<()>;
}

impl RoutingTable for VmFd {
    fn set_routes(&self, routes: &[kvm_irq_routing_entry]) -> io::Result<()> {
        let table = KvmIrqRouting::from_entries(routes)
            .map_err(|e| io::Error::other(format!("routing table: {e:?}")))?;
        self.set_gsi_routing(&table).map_err(io::Error::from)
    }

    fn register_irqfd(&self, fd: &EventFd, gsi: u32) -> io::Result<()> {
        VmFd::register_irqfd(self, fd, gsi).map_err(io::Error::from)
    }
}

struct RouterState {
    msi: BTreeMap<u32, MsiMessage>,
    next_gsi: u32,
}

/// Owns the GSI routing table of one VM.
pub struct GsiRouter {
    table: Arc<dyn RoutingTable>,
    state: Mutex<RouterState>,
}

impl GsiRouter {
    /// A router that installs the legacy wiring at once.
    pub fn new(table: Arc<dyn RoutingTable>) -> io::Result<Arc<Self>> {
        let r = Arc::new(Self {
            table,
            state: Mutex::new(RouterState {
                msi: BTreeMap::new(),
                next_gsi: MSI_GSI_START,
            }),
        });
        let state = r.lock();
        r.commit(&state)?;
        drop(state);
        Ok(r)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RouterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn commit(&self, state: &RouterState) -> io::Result<()> {
        let mut routes = legacy_routes();
        routes.extend(state.msi.iter().map(|(gsi, msg)| msi_route(*gsi, *msg)));
        self.table.set_routes(&routes)
    }

    /// Reserves `n` consecutive GSIs for MSI routes; each starts with an
    /// all-zero message until [`GsiRouter::set_msi`] is called.
    fn allocate(&self, n: usize) -> io::Result<u32> {
        let mut s = self.lock();
        let first = s.next_gsi;
        let end = u32::try_from(n)
            .ok()
            .and_then(|n| first.checked_add(n))
            .filter(|end| *end <= MAX_GSI)
            .ok_or_else(|| io::Error::other("out of GSIs"))?;
        s.next_gsi = end;
        Ok(first)
    }

    /// Routes `gsi` to `msg`.
    pub fn set_msi(&self, gsi: u32, msg: MsiMessage) -> io::Result<()> {
        let mut s = self.lock();
        if s.msi.get(&gsi) == Some(&msg) {
            return Ok(());
        }
        let old = s.msi.insert(gsi, msg);
        if let Err(e) = self.commit(&s) {
            match old {
                Some(m) => s.msi.insert(gsi, m),
                None => s.msi.remove(&gsi),
            };
            return Err(e);
        }
        Ok(())
    }

    /// An edge-triggered legacy line on `gsi` (an IOAPIC pin).
    pub fn legacy_line(&self, gsi: u32) -> io::Result<Arc<dyn InterruptLine>> {
        let fd = EventFd::new(EFD_NONBLOCK)?;
        self.table.register_irqfd(&fd, gsi)?;
        Ok(Arc::new(IrqfdLine { fd }))
    }

    /// Number of MSI routes currently installed.
    pub fn msi_routes(&self) -> usize {
        self.lock().msi.len()
    }
}

/// A legacy interrupt line: a write to its irqfd pulses the GSI.
pub struct IrqfdLine {
    fd: EventFd,
}

impl InterruptLine for IrqfdLine {
    fn trigger(&self) -> io::Result<()> {
        self.fd.write(1)
    }
}

/// MSI vectors: one GSI and one irqfd each.
pub struct KvmMsiGroup {
    router: Arc<GsiRouter>,
    first_gsi: u32,
    fds: Vec<EventFd>,
}

impl MsiGroup for KvmMsiGroup {
    fn len(&self) -> usize {
        self.fds.len()
    }

    fn set_route(&self, index: usize, msg: MsiMessage) -> io::Result<()> {
        if index >= self.fds.len() {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        self.router.set_msi(self.first_gsi + index as u32, msg)
    }

    fn trigger(&self, index: usize) -> io::Result<()> {
        self.fds
            .get(index)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?
            .write(1)
    }
}

/// Hands out [`KvmMsiGroup`]s from one router.
pub struct KvmMsiAllocator(pub Arc<GsiRouter>);

impl MsiAllocator for KvmMsiAllocator {
    fn allocate(&self, vectors: usize) -> io::Result<Arc<dyn MsiGroup>> {
        let first_gsi = self.0.allocate(vectors)?;
        let mut fds = Vec::with_capacity(vectors);
        for i in 0..vectors {
            let fd = EventFd::new(EFD_NONBLOCK)?;
            self.0.table.register_irqfd(&fd, first_gsi + i as u32)?;
            fds.push(fd);
        }
        Ok(Arc::new(KvmMsiGroup {
            router: self.0.clone(),
            first_gsi,
            fds,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct FakeTable {
        last: Mutex<Vec<kvm_irq_routing_entry>>,
        irqfds: Mutex<Vec<u32>>,
        fail: std::sync::atomic::AtomicBool,
    }

    impl RoutingTable for FakeTable {
        fn set_routes(&self, routes: &[kvm_irq_routing_entry]) -> io::Result<()> {
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(io::Error::other("fail"));
            }
            *self.last.lock().unwrap() = routes.to_vec();
            Ok(())
        }
        fn register_irqfd(&self, _fd: &EventFd, gsi: u32) -> io::Result<()> {
            self.irqfds.lock().unwrap().push(gsi);
            Ok(())
        }
    }

    fn chip(e: &kvm_irq_routing_entry) -> (u32, u32, u32) {
        // SAFETY: the test only reads entries built as irqchip routes.
        let c = unsafe { e.u.irqchip };
        (e.gsi, c.irqchip, c.pin)
    }

    #[test]
    fn legacy_wiring_routes_pit_to_pin2() {
        let r = legacy_routes();
        let ioapic: Vec<_> = r
            .iter()
            .filter(|e| chip(e).1 == KVM_IRQCHIP_IOAPIC)
            .map(chip)
            .collect();
        assert!(ioapic.contains(&(0, KVM_IRQCHIP_IOAPIC, 2)));
        assert!(!ioapic.iter().any(|e| e.0 == 2));
        assert!(ioapic.contains(&(4, KVM_IRQCHIP_IOAPIC, 4)));
        assert_eq!(ioapic.len(), 23);
        assert!(r
            .iter()
            .map(chip)
            .any(|e| e == (9, KVM_IRQCHIP_PIC_SLAVE, 1)));
    }

    #[test]
    fn msi_routes_pushed_with_legacy_ones() {
        let table = Arc::new(FakeTable::default());
        let router = GsiRouter::new(table.clone()).unwrap();
        let n_legacy = legacy_routes().len();
        assert_eq!(table.last.lock().unwrap().len(), n_legacy);
        let group = KvmMsiAllocator(router.clone()).allocate(3).unwrap();
        assert_eq!(*table.irqfds.lock().unwrap(), vec![24, 25, 26]);
        let msg = MsiMessage {
            address: 0x1_fee0_1000,
            data: 0x41,
        };
        group.set_route(2, msg).unwrap();
        let last = table.last.lock().unwrap().clone();
        assert_eq!(last.len(), n_legacy + 1);
        let e = last.last().unwrap();
        // SAFETY: built as an MSI route above.
        let m = unsafe { e.u.msi };
        assert_eq!((e.gsi, e.type_), (26, KVM_IRQ_ROUTING_MSI));
        assert_eq!((m.address_lo, m.address_hi, m.data), (0xfee0_1000, 1, 0x41));
        assert!(group.set_route(3, msg).is_err());
        assert!(group.trigger(3).is_err());
        group.trigger(0).unwrap();
    }

    #[test]
    fn failed_commit_leaves_routes_unchanged() {
        let table = Arc::new(FakeTable::default());
        let router = GsiRouter::new(table.clone()).unwrap();
        let group = KvmMsiAllocator(router.clone()).allocate(1).unwrap();
        table.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(group.set_route(0, MsiMessage::default()).is_err());
        assert_eq!(router.msi_routes(), 0);
    }
}
