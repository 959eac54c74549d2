//! The KVM VM: file descriptor, in-kernel irqchip and PIT, GSI routing.

use std::sync::Arc;

use arch::layout::{KVM_IDENTITY_MAP_START, KVM_TSS_START};
use kvm_bindings::{kvm_pit_config, KVM_PIT_SPEAKER_DUMMY};
use kvm_ioctls::{Cap, Kvm, VmFd};
use thiserror::Error;

use crate::interrupts::GsiRouter;

/// Errors creating the VM.
#[derive(Debug, Error)]
pub enum VmError {
    /// /dev/kvm could not be opened.
    #[error("cannot open /dev/kvm: {0} (is KVM available and are you allowed to use it?)")]
    OpenKvm(kvm_ioctls::Error),
    /// KVM lacks something we need.
    #[error("KVM lacks a required capability: {0:?}")]
    MissingCap(Cap),
    /// A KVM call failed.
    #[error("{0}: {1}")]
    Kvm(&'static str, kvm_ioctls::Error),
    /// Setting up GSI routing failed.
    #[error("GSI routing: {0}")]
    Routing(std::io::Error),
}

/// Capabilities the VMM relies on.
pub const REQUIRED_CAPS: [Cap; 7] = [
    Cap::Irqchip,
    Cap::UserMemory,
    Cap::SetTssAddr,
    Cap::Pit2,
    Cap::IrqRouting,
    Cap::Irqfd,
    Cap::ExtCpuid,
];

/// One KVM virtual machine.
pub struct Vm {
    /// The /dev/kvm handle.
    pub kvm: Kvm,
    /// The VM file descriptor.
    pub fd: Arc<VmFd>,
    /// GSI routing for legacy lines and MSIs.
    pub router: Arc<GsiRouter>,
}

impl Vm {
    /// Creates a VM with the in-kernel irqchip (PIC + IOAPIC + LAPICs) and
    /// PIT, and the PC's legacy interrupt routing, running `early` on the
    /// bare VM (the /dev/kvm handle and the VM fd) before the irqchip
    /// exists: the place for the RAM memslots. Creating the irqchip starts a KVM SRCU grace period, and
    /// the first memslot change after it waits for that to end, a
    /// scheduler tick or more (4-8 ms measured under kvm_pvm, against
    /// 0.1 ms before it; docs/PERFORMANCE.md, start-up).
    pub fn new_with<T, E>(
        early: impl FnOnce(&Kvm, &Arc<VmFd>) -> Result<T, E>,
    ) -> Result<(Self, T), E>
    where
        E: From<VmError>,
    {
        let kvm = Kvm::new().map_err(VmError::OpenKvm)?;
        for cap in REQUIRED_CAPS {
            if !kvm.check_extension(cap) {
                return Err(VmError::MissingCap(cap).into());
            }
        }
        let fd = Arc::new(
            kvm.create_vm()
                .map_err(|e| VmError::Kvm("KVM_CREATE_VM", e))?,
        );
        fd.set_tss_address(KVM_TSS_START as usize)
            .map_err(|e| VmError::Kvm("KVM_SET_TSS_ADDR", e))?;
        if kvm.check_extension(Cap::SetIdentityMapAddr) {
            fd.set_identity_map_address(KVM_IDENTITY_MAP_START)
                .map_err(|e| VmError::Kvm("KVM_SET_IDENTITY_MAP_ADDR", e))?;
        }
        let early = early(&kvm, &fd)?;
        fd.create_irq_chip()
            .map_err(|e| VmError::Kvm("KVM_CREATE_IRQCHIP", e))?;
        let pit = kvm_pit_config {
            flags: KVM_PIT_SPEAKER_DUMMY,
            ..Default::default()
        };
        fd.create_pit2(pit)
            .map_err(|e| VmError::Kvm("KVM_CREATE_PIT2", e))?;
        let router = GsiRouter::new(fd.clone()).map_err(VmError::Routing)?;
        Ok((Self { kvm, fd, router }, early))
    }

    /// The largest number of vCPUs KVM allows.
    pub fn max_vcpus(&self) -> u32 {
        self.kvm.get_max_vcpus() as u32
    }
}
