//! Per-vCPU CPUID: KVM's supported set with the topology filled in.
//!
//! Topology is one socket with `cpus` cores of one thread each; APIC ID =
//! vCPU index. Leaves touched: 0x1 (APIC ID, logical count, HTT, hypervisor
//! bit), 0x4 (cores sharing caches), 0xb/0x1f (x2APIC topology), 0x4000_00xx
//! (hypervisor leaves, dropped when hidden), 0x8000_0001 (CmpLegacy on AMD),
//! 0x8000_0008 (AMD core count), 0x8000_001e (AMD topology extensions).

use kvm_bindings::{kvm_cpuid_entry2, KVM_CPUID_FLAG_SIGNIFCANT_INDEX};

/// CPUID.1:ECX bit 31, "hypervisor present".
pub const CPUID1_ECX_HYPERVISOR: u32 = 1 << 31;
/// CPUID.1:EDX bit 28, "HTT" (more than one logical processor per package).
pub const CPUID1_EDX_HTT: u32 = 1 << 28;
/// CPUID.8000_0001:ECX bit 1, AMD "CmpLegacy".
pub const CPUID_80000001_ECX_CMP_LEGACY: u32 = 1 << 1;
/// First hypervisor leaf.
pub const HYPERVISOR_LEAF_START: u32 = 0x4000_0000;
/// End (exclusive) of the hypervisor leaf range.
pub const HYPERVISOR_LEAF_END: u32 = 0x5000_0000;

/// What the VMM wants the guest to see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuidConfig {
    /// Number of vCPUs.
    pub cpus: u32,
    /// Clear CPUID.1:ECX.hypervisor and drop the hypervisor leaves. The guest
    /// then believes it runs on bare metal: it loses kvm-clock and the KVM
    /// paravirtual features (PV EOI, steal time, PV spinlocks, PV TLB flush),
    /// but Linux's CXL region code agrees to commit regions (it refuses in a
    /// VM because it cannot flush caches by address range there).
    pub hide_hypervisor: bool,
}

/// The CPU vendor, as leaf 0 tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    /// GenuineIntel.
    Intel,
    /// AuthenticAMD or HygonGenuine.
    Amd,
    /// Anything else.
    Other,
}

/// The vendor named by leaf 0 of `entries`.
pub fn vendor(entries: &[kvm_cpuid_entry2]) -> Vendor {
    let Some(l0) = entries.iter().find(|e| e.function == 0) else {
        return Vendor::Other;
    };
    let mut id = [0u8; 12];
    id[..4].copy_from_slice(&l0.ebx.to_le_bytes());
    id[4..8].copy_from_slice(&l0.edx.to_le_bytes());
    id[8..].copy_from_slice(&l0.ecx.to_le_bytes());
    match &id {
        b"GenuineIntel" => Vendor::Intel,
        b"AuthenticAMD" | b"HygonGenuine" => Vendor::Amd,
        _ => Vendor::Other,
    }
}

/// Bits needed to number `n` items (ceil(log2(n))).
pub fn bits_for(n: u32) -> u32 {
    if n <= 1 {
        0
    } else {
        32 - (n - 1).leading_zeros()
    }
}

fn topology_leaf(function: u32, apic_id: u32, cpus: u32) -> [kvm_cpuid_entry2; 3] {
    let level = |index: u32, shift: u32, count: u32, level_type: u32| kvm_cpuid_entry2 {
        function,
        index,
        flags: KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
        eax: shift,
        ebx: count,
        ecx: index | (level_type << 8),
        edx: apic_id,
        ..Default::default()
    };
    [
        level(0, 0, 1, 1),                 // SMT: one thread per core
        level(1, bits_for(cpus), cpus, 2), // core: all vCPUs in one package
        level(2, 0, 0, 0),                 // invalid: end of the list
    ]
}

/// CPUID entries for vCPU `vcpu` (its APIC ID) built from KVM's supported set.
pub fn vcpu_cpuid(
    supported: &[kvm_cpuid_entry2],
    vcpu: u32,
    cfg: &CpuidConfig,
) -> Vec<kvm_cpuid_entry2> {
    let cpus = cfg.cpus.max(1);
    let vendor = vendor(supported);
    let mut out: Vec<kvm_cpuid_entry2> = Vec::with_capacity(supported.len() + 6);
    let mut seen_topology = [false, false];
    for e in supported {
        let mut e = *e;
        match e.function {
            0x1 => {
                e.ebx = (e.ebx & 0x0000_ffff) | (vcpu << 24) | (cpus.min(255) << 16);
                if cpus > 1 {
                    e.edx |= CPUID1_EDX_HTT;
                } else {
                    e.edx &= !CPUID1_EDX_HTT;
                }
                if cfg.hide_hypervisor {
                    e.ecx &= !CPUID1_ECX_HYPERVISOR;
                } else {
                    e.ecx |= CPUID1_ECX_HYPERVISOR;
                }
            }
            0x4 if vendor == Vendor::Intel => {
                let cache_level = (e.eax >> 5) & 0x7;
                let sharing = if cache_level >= 3 { cpus - 1 } else { 0 };
                e.eax = (e.eax & 0x3fff) | ((cpus - 1).min(63) << 26) | (sharing.min(0xfff) << 14);
            }
            0xb | 0x1f => {
                let i = usize::from(e.function == 0x1f);
                if !seen_topology[i] {
                    seen_topology[i] = true;
                    out.extend(topology_leaf(e.function, vcpu, cpus));
                }
                continue;
            }
            HYPERVISOR_LEAF_START..HYPERVISOR_LEAF_END if cfg.hide_hypervisor => continue,
            0x8000_0001 if vendor == Vendor::Amd => {
                if cpus > 1 {
                    e.ecx |= CPUID_80000001_ECX_CMP_LEGACY;
                } else {
                    e.ecx &= !CPUID_80000001_ECX_CMP_LEGACY;
                }
            }
            0x8000_0008 if vendor == Vendor::Amd => {
                e.ecx = (e.ecx & !0xf0ff) | (bits_for(cpus) << 12) | (cpus - 1).min(255);
            }
            0x8000_001e if vendor == Vendor::Amd => {
                e.eax = vcpu;
                e.ebx = vcpu & 0xff; // core id; threads per core - 1 = 0
                e.ecx = 0; // node 0, one node per package
            }
            _ => {}
        }
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(function: u32, index: u32) -> kvm_cpuid_entry2 {
        kvm_cpuid_entry2 {
            function,
            index,
            ..Default::default()
        }
    }

    fn amd_leaf0() -> kvm_cpuid_entry2 {
        let mut e = entry(0, 0);
        let id = b"AuthenticAMD";
        e.ebx = u32::from_le_bytes([id[0], id[1], id[2], id[3]]);
        e.edx = u32::from_le_bytes([id[4], id[5], id[6], id[7]]);
        e.ecx = u32::from_le_bytes([id[8], id[9], id[10], id[11]]);
        e
    }

    #[test]
    fn leaf1_topology_and_hypervisor_bit() {
        let base = [entry(1, 0)];
        let cfg = CpuidConfig {
            cpus: 4,
            hide_hypervisor: false,
        };
        let out = vcpu_cpuid(&base, 3, &cfg);
        assert_eq!(out[0].ebx >> 24, 3);
        assert_eq!((out[0].ebx >> 16) & 0xff, 4);
        assert_ne!(out[0].edx & CPUID1_EDX_HTT, 0);
        assert_ne!(out[0].ecx & CPUID1_ECX_HYPERVISOR, 0);
        let hidden = vcpu_cpuid(
            &base,
            0,
            &CpuidConfig {
                cpus: 1,
                hide_hypervisor: true,
            },
        );
        assert_eq!(hidden[0].ecx & CPUID1_ECX_HYPERVISOR, 0);
        assert_eq!(hidden[0].edx & CPUID1_EDX_HTT, 0);
    }

    #[test]
    fn hypervisor_leaves_dropped_only_when_hidden() {
        let base = [entry(0x4000_0000, 0), entry(0x4000_0001, 0), entry(2, 0)];
        let shown = CpuidConfig {
            cpus: 1,
            hide_hypervisor: false,
        };
        assert_eq!(vcpu_cpuid(&base, 0, &shown).len(), 3);
        let hidden = CpuidConfig {
            hide_hypervisor: true,
            ..shown
        };
        let out = vcpu_cpuid(&base, 0, &hidden);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].function, 2);
    }

    #[test]
    fn x2apic_topology_leaf() {
        let base = [entry(0xb, 0), entry(0xb, 1)];
        let cfg = CpuidConfig {
            cpus: 6,
            hide_hypervisor: false,
        };
        let out = vcpu_cpuid(&base, 5, &cfg);
        assert_eq!(out.len(), 3);
        assert_eq!((out[0].eax, out[0].ebx, out[0].ecx >> 8), (0, 1, 1));
        assert_eq!((out[1].eax, out[1].ebx, out[1].ecx >> 8), (3, 6, 2));
        assert_eq!(out[2].ecx >> 8, 0);
        assert!(out.iter().all(|e| e.edx == 5));
    }

    #[test]
    fn amd_core_count() {
        let base = [amd_leaf0(), entry(0x8000_0008, 0), entry(0x8000_001e, 0)];
        let cfg = CpuidConfig {
            cpus: 3,
            hide_hypervisor: false,
        };
        assert_eq!(vendor(&base), Vendor::Amd);
        let out = vcpu_cpuid(&base, 2, &cfg);
        assert_eq!(out[1].ecx & 0xff, 2);
        assert_eq!((out[1].ecx >> 12) & 0xf, 2);
        assert_eq!(out[2].eax, 2);
    }

    #[test]
    fn bits() {
        assert_eq!([1, 2, 3, 4, 5, 8, 9].map(bits_for), [0, 1, 2, 2, 3, 3, 4]);
    }
}
