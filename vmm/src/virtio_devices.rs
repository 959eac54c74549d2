//! Builds the virtio devices on PCI0 (one function per `--disk`, then one
//! per `--net`, then one per `--fs`, device numbers from 1) and attaches
//! their queue notify addresses to their eventfds as KVM ioeventfds once
//! the BARs are assigned. Disk images and taps are opened, and a virtio-fs
//! device connects to its vhost-user backend, here, at start-up, before any
//! seccomp filter is installed.

use std::sync::{Arc, Mutex};

use devices::interrupt::MsiAllocator;
use devices::pci::{DevFn, PciNode};
use devices::virtio::block::disk::DiskImage;
use devices::virtio::block::VirtioBlock;
use devices::virtio::fs::VirtioFs;
use devices::virtio::net::tap::open_tap;
use devices::virtio::net::{format_mac, VirtioNet};
use devices::virtio::vhost_user::VhostUserConnection;
use devices::virtio::{NotifyEvent, VirtioDevice, VirtioPciDevice};
use kvm_ioctls::{IoEventAddress, NoDatamatch, VmFd};
use vm_memory::GuestMemoryMmap;

use crate::disk_config::DiskConfig;
use crate::fs_config::FsConfig;
use crate::net_config::NetConfig;

/// What a virtio function is (its thread's seccomp filter follows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtioKind {
    /// virtio-blk, served on its own thread.
    Block,
    /// virtio-net, served on its own thread.
    Net,
    /// virtio-fs, served by a vhost-user backend.
    Fs,
}

/// The virtio functions of the VM.
#[derive(Default)]
pub struct VirtioDevices {
    /// Every device: disks, then network devices, then file systems, in
    /// command-line order.
    pub devices: Vec<Arc<Mutex<VirtioPciDevice>>>,
    /// What each of them is.
    pub kinds: Vec<VirtioKind>,
}

impl VirtioDevices {
    /// Opens every disk image and tap, connects to every file system's
    /// backend, and builds their devices; returns the devices and the PCI
    /// nodes to assign on PCI0. `mem` must be shared memory when there is a
    /// file system.
    pub fn build(
        disks: &[DiskConfig],
        nets: &[NetConfig],
        filesystems: &[FsConfig],
        mem: &GuestMemoryMmap,
        msi: &dyn MsiAllocator,
    ) -> Result<(Self, Vec<PciNode>), String> {
        let mut me = Self::default();
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
            me.add(
                Box::new(blk),
                VirtioKind::Block,
                &what,
                mem,
                msi,
                &mut nodes,
            )?;
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
            me.add(Box::new(net), VirtioKind::Net, &what, mem, msi, &mut nodes)?;
        }
        for (i, f) in filesystems.iter().enumerate() {
            let what = format!("--fs '{}'", f.tag);
            let conn = VhostUserConnection::connect(&f.socket, VirtioFs::queue_count())
                .map_err(|e| format!("{what}: {e}"))?;
            log::info!(
                "virtio-fs '{}': vhost-user backend at '{}', features {:#x}, protocol features {:?}",
                f.tag,
                f.socket.display(),
                conn.features(),
                conn.protocol_features()
            );
            let fs = VirtioFs::new(&f.tag, f.queue_size, conn, mem, format!("virtio-fs{i}"))
                .map_err(|e| format!("{what}: {e}"))?;
            me.add(Box::new(fs), VirtioKind::Fs, &what, mem, msi, &mut nodes)?;
        }
        Ok((me, nodes))
    }

    /// Builds the function for `dev` on the next PCI0 device number.
    fn add(
        &mut self,
        dev: Box<dyn VirtioDevice>,
        kind: VirtioKind,
        what: &str,
        mem: &GuestMemoryMmap,
        msi: &dyn MsiAllocator,
        nodes: &mut Vec<PciNode>,
    ) -> Result<(), String> {
        let queues = dev.queue_max_sizes().len();
        let group = msi
            .allocate(VirtioPciDevice::msix_vectors(queues))
            .map_err(|e| format!("{what}: MSI-X: {e}"))?;
        let devfn = u8::try_from(self.devices.len() + 1)
            .ok()
            .and_then(|n| DevFn::new(n, 0))
            .ok_or_else(|| format!("{what}: no PCI device number left"))?;
        let dev =
            VirtioPciDevice::new(dev, group, mem.clone()).map_err(|e| format!("{what}: {e}"))?;
        let dev = Arc::new(Mutex::new(dev));
        nodes.push(PciNode::Function {
            devfn,
            device: dev.clone(),
        });
        self.devices.push(dev);
        self.kinds.push(kind);
        Ok(())
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
