//! Builds the virtio devices on PCI0 (one function per `--disk`, device
//! numbers from 1) and attaches their queue notify addresses to their
//! eventfds as KVM ioeventfds once the BARs are assigned.

use std::sync::{Arc, Mutex};

use devices::interrupt::MsiAllocator;
use devices::pci::{DevFn, PciNode};
use devices::virtio::block::disk::DiskImage;
use devices::virtio::block::VirtioBlock;
use devices::virtio::{NotifyEvent, VirtioPciDevice};
use kvm_ioctls::{IoEventAddress, NoDatamatch, VmFd};
use vm_memory::GuestMemoryMmap;

use crate::disk_config::DiskConfig;

/// The virtio functions of the VM.
#[derive(Default)]
pub struct VirtioDevices {
    /// Every device, in command-line order.
    pub devices: Vec<Arc<Mutex<VirtioPciDevice>>>,
}

impl VirtioDevices {
    /// Opens every disk image and builds its device; returns the devices and
    /// the PCI nodes to assign on PCI0.
    pub fn build(
        disks: &[DiskConfig],
        mem: &GuestMemoryMmap,
        msi: &dyn MsiAllocator,
    ) -> Result<(Self, Vec<PciNode>), String> {
        let mut devices = Vec::new();
        let mut nodes = Vec::new();
        for (i, d) in disks.iter().enumerate() {
            let image = DiskImage::open(&d.path, d.readonly)
                .map_err(|e| format!("--disk '{}': {e}", d.path.display()))?;
            log::info!(
                "virtio-blk {}: '{}', {} sectors{}",
                d.id,
                d.path.display(),
                image.sectors(),
                if d.readonly { ", read-only" } else { "" }
            );
            let blk = VirtioBlock::new(image, &d.id, format!("virtio-blk{i}"));
            let group = msi
                .allocate(VirtioPciDevice::msix_vectors(1))
                .map_err(|e| format!("--disk '{}': MSI-X: {e}", d.id))?;
            let dev = VirtioPciDevice::new(Box::new(blk), group, mem.clone())
                .map_err(|e| format!("--disk '{}': {e}", d.id))?;
            let dev = Arc::new(Mutex::new(dev));
            let devfn = u8::try_from(i + 1)
                .ok()
                .and_then(|n| DevFn::new(n, 0))
                .ok_or_else(|| format!("--disk '{}': no PCI device number left", d.id))?;
            nodes.push(PciNode::Function {
                devfn,
                device: dev.clone(),
            });
            devices.push(dev);
        }
        Ok((Self { devices }, nodes))
    }

    /// Every queue's notify address and eventfd, as the BARs are placed now.
    pub fn notify_events(&self) -> Result<Vec<NotifyEvent>, String> {
        let mut v = Vec::new();
        for d in &self.devices {
            let d = d.lock().unwrap_or_else(|e| e.into_inner());
            v.extend(d.notify_events().map_err(|e| e.to_string())?);
        }
        Ok(v)
    }

    /// Attaches every notify address to its eventfd (KVM_IOEVENTFD, any
    /// write size): a driver's notify then never leaves the kernel. A BAR the
    /// guest moves later still works, through MMIO exits.
    pub fn register_ioeventfds(&self, vm: &VmFd) -> Result<(), String> {
        for e in self.notify_events()? {
            vm.register_ioevent(&e.fd, &IoEventAddress::Mmio(e.addr), NoDatamatch)
                .map_err(|err| format!("ioeventfd at {:#x}: {err}", e.addr))?;
        }
        Ok(())
    }
}
