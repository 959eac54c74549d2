//! The ioctl request numbers the filters allow, computed from the kernel's
//! structure layouts as kvm-ioctls computes them.

use kvm_bindings::{kvm_irq_routing, kvm_irqfd, kvm_userspace_memory_region};
use vmm_sys_util::{ioctl_io_nr, ioctl_iow_nr};

/// KVM's ioctl type.
const KVMIO: u32 = 0xAE;

ioctl_io_nr!(KVM_RUN, KVMIO, 0x80);
ioctl_iow_nr!(
    KVM_SET_USER_MEMORY_REGION,
    KVMIO,
    0x46,
    kvm_userspace_memory_region
);
ioctl_iow_nr!(KVM_SET_GSI_ROUTING, KVMIO, 0x6a, kvm_irq_routing);
ioctl_iow_nr!(KVM_IRQFD, KVMIO, 0x76, kvm_irqfd);

/// `KVM_RUN` (vCPU fd): run the guest until the next exit.
pub fn kvm_run() -> u64 {
    KVM_RUN()
}

/// `KVM_SET_USER_MEMORY_REGION` (VM fd): add, move or remove a memslot.
pub fn kvm_set_user_memory_region() -> u64 {
    KVM_SET_USER_MEMORY_REGION()
}

/// `KVM_SET_GSI_ROUTING` (VM fd): the whole interrupt routing table.
pub fn kvm_set_gsi_routing() -> u64 {
    KVM_SET_GSI_ROUTING()
}

/// `KVM_IRQFD` (VM fd): connect or disconnect an eventfd and a GSI.
pub fn kvm_irqfd() -> u64 {
    KVM_IRQFD()
}

/// Terminal attributes: `isatty` and `tcgetattr` (TCGETS).
pub const TCGETS: u64 = libc::TCGETS;
/// Terminal attributes: `tcsetattr(TCSANOW)` (TCSETS).
pub const TCSETS: u64 = libc::TCSETS;
/// Non-blocking mode of a socket (std's `set_nonblocking`, mio).
pub const FIONBIO: u64 = libc::FIONBIO;
/// Close-on-exec (some libraries set it with ioctl instead of fcntl).
pub const FIOCLEX: u64 = libc::FIOCLEX;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_kernel_headers() {
        // From <linux/kvm.h> on x86_64.
        assert_eq!(kvm_run(), 0xae80);
        assert_eq!(kvm_set_user_memory_region(), 0x4020_ae46);
        assert_eq!(kvm_set_gsi_routing(), 0x4008_ae6a);
        assert_eq!(kvm_irqfd(), 0x4020_ae76);
    }
}
