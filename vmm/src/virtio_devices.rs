//! Builds the virtio devices on PCI0 (one function per `--disk`, then one
//! per `--net`, device numbers from 1) and attaches their queue notify
//! addresses to their eventfds as KVM ioeventfds once the BARs are assigned.
//! Disk images and taps are opened here, at start-up, before any seccomp
//! filter is installed.

use std::sync::{Arc, Mutex};

use devices::interrupt::MsiAllocator;
use devices::pci::{DevFn, PciNode};
use devices::virtio::block::disk::DiskImage;
use devices::virtio::block::VirtioBlock;
use devices::virtio::net::tap::open_tap;
use devices::virtio::net::{format_mac, VirtioNet};
use devices::virtio::{NotifyEvent, VirtioDevice, VirtioPciDevice};
use kvm_ioctls::{IoEventAddress, NoDatamatch, VmFd};
use vm_memory::GuestMemoryMmap;

use crate::disk_config::DiskConfig;
use crate::net_config::NetConfig;

/// The virtio functions of the VM.
#[derive(Default)]
pub struct VirtioDevices {
    /// Every device, in command-line order.
    pub devices: Vec<Arc<Mutex<VirtioPciDevice>>>,
}

impl VirtioDevices {
    /// Opens every disk image and tap and builds their devices; returns the
    /// devices and the PCI nodes to assign on PCI0.
    pub fn build(
        disks: &[DiskConfig],
        nets: &[NetConfig],
        mem: &GuestMemoryMmap,
        msi: &dyn MsiAllocator,
    ) -> Result<(Self, Vec<PciNode>), String> {
        let mut built = Self::default();
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
            let what = format!("--disk '{}'", d.id);
            nodes.push(built.add(Box::new(blk), &what, mem, msi)?);
        }
        for (i, n) in nets.iter().enumerate() {
            let what = format!("--net '{}'", n.id);
            let tap = open_tap(&n.tap).map_err(|e| format!("{what}: tap '{}': {e}", n.tap))?;
            log::info!(
                "virtio-net {}: tap '{}', MAC {}",
                n.id,
                n.tap,
                format_mac(&n.mac)
            );
            let net = VirtioNet::new(tap, n.mac, format!("virtio-net{i}"));
            nodes.push(built.add(Box::new(net), &what, mem, msi)?);
        }
        Ok((built, nodes))
    }

    /// Builds the PCI function of `device` at the next device number.
    fn add(
        &mut self,
        device: Box<dyn VirtioDevice>,
        what: &str,
        mem: &GuestMemoryMmap,
        msi: &dyn MsiAllocator,
    ) -> Result<PciNode, String> {
        let devfn = u8::try_from(self.devices.len() + 1)
            .ok()
            .and_then(|n| DevFn::new(n, 0))
            .ok_or_else(|| format!("{what}: no PCI device number left"))?;
        let queues = device.queue_max_sizes().len();
        let group = msi
            .allocate(VirtioPciDevice::msix_vectors(queues))
            .map_err(|e| format!("{what}: MSI-X: {e}"))?;
        let dev =
            VirtioPciDevice::new(device, group, mem.clone()).map_err(|e| format!("{what}: {e}"))?;
        let dev = Arc::new(Mutex::new(dev));
        self.devices.push(dev.clone());
        Ok(PciNode::Function { devfn, device: dev })
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
