//! A 2-way interleave at 4 KiB on this machine's KVM: the memory path
//! composes the region from both devices' backends into one real memslot,
//! a vCPU writes across it without a single MMIO exit, and every write
//! lands in the right device's backend, granule by granule.

use std::sync::{Arc, Mutex};

use devices::cxl::component::hdm::{HdmDecoderInfo, HdmDecoderTarget};
use devices::cxl::decode::Interleave;
use devices::cxl::fabric::{
    CxlMemoryPath, GuestMemoryMapper, HostBridgeDesc, MemPath, MemoryRange, PathStats, Topology,
    WindowDesc,
};
use devices::cxl::window::CxlWindow;
use devices::memory::{BackendConfig, BackendKind, HostMemory};
use vm_memory::{Bytes, GuestAddress};

use crate::harness::{Asm, TestVm, CODE_ADDR};

const WINDOW: u64 = 0x80_0000_0000;
const REGION: u64 = 2 << 20;
const GRANULE: u64 = 4096;
/// The program writes every this many bytes.
const STEP: u64 = 0x800;
/// Where the second program leaves what it read.
const RESULT: u64 = 0x5000;

fn backend(id: &str) -> Arc<HostMemory> {
    Arc::new(
        HostMemory::new(BackendConfig {
            id: id.into(),
            kind: BackendKind::Memfd,
            path: None,
            size: REGION / 2,
            share: true,
            prealloc: false,
            tag: None,
        })
        .unwrap(),
    )
}

fn decoder(ways: u32, target: HdmDecoderTarget) -> HdmDecoderInfo {
    HdmDecoderInfo {
        index: 0,
        committed: true,
        locked: false,
        base: WINDOW,
        size: REGION,
        interleave_ways: ways,
        interleave_granularity: GRANULE,
        host_only: true,
        target,
    }
}

/// For every `STEP` bytes of the region: `mov [rbx], rbx; add rbx, STEP`,
/// then reports 0x5a.
fn write_loop() -> Vec<u8> {
    let mut code = Asm::default().mov_rbx(WINDOW).0;
    code.extend([0x48, 0xb9]); // mov rcx, imm64
    code.extend((REGION / STEP).to_le_bytes());
    code.extend([0x48, 0x89, 0x1b]); // loop: mov [rbx], rbx
    code.extend([0x48, 0x81, 0xc3]); // add rbx, imm32
    code.extend((STEP as u32).to_le_bytes());
    code.extend([0x48, 0xff, 0xc9]); // dec rcx
    code.extend([0x75, 0xf1]); // jnz loop (-15)
    Asm(code).mov_rax(0x5a).finish()
}

/// The memory path of two devices below one host bridge (a 1-way window),
/// mapping through `t`'s memory manager, the window device on its MMIO
/// bus, both endpoints' decoders committed (the host bridge's is not yet).
fn interleaved_path(t: &TestVm, devs: &[Arc<HostMemory>; 2]) -> Arc<CxlMemoryPath> {
    let path = Arc::new(CxlMemoryPath::new(
        Topology {
            windows: vec![WindowDesc {
                base: WINDOW,
                size: 256 << 20,
                interleave: Interleave::NONE,
                targets: vec![0],
            }],
            host_bridges: vec![HostBridgeDesc {
                root_ports: vec![(0, Some(0)), (1, Some(1))],
                has_hdm: true,
            }],
            endpoints: 2,
        },
        t.memory.clone() as Arc<dyn GuestMemoryMapper>,
    ));
    // Whatever no memslot covers exits to the window device, as in cxlvmm.
    t.mmio
        .insert(
            Arc::new(Mutex::new(CxlWindow::new(path.clone()))),
            WINDOW,
            256 << 20,
        )
        .unwrap();
    for (ep, b) in devs.iter().enumerate() {
        let memory = vec![MemoryRange {
            dpa: 0,
            len: b.size(),
            backend: b.clone(),
            offset: 0,
        }];
        path.set_endpoint_memory(ep, memory);
        let target = HdmDecoderTarget::Dpa {
            skip: 0,
            dpa: Some(0..REGION / 2),
        };
        path.set_endpoint_decoders(ep, vec![decoder(2, target)], true);
    }
    path
}

/// Held by each test here while it composes: one test counts this
/// process's mappings while the other makes hundreds of them.
static COMPOSING: Mutex<()> = Mutex::new(());

/// Mappings in this process.
fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

#[test]
fn a_refused_memslot_leaves_no_composed_range_and_is_retried() {
    let _one = COMPOSING.lock().unwrap_or_else(|e| e.into_inner());
    let mut t = TestVm::new(&Asm::default().mov_rax(0x5a).finish());
    let devs = [backend("il0"), backend("il1")];
    let path = interleaved_path(&t, &devs);
    // A memslot already sits inside the region: KVM refuses the composed one.
    let blocker = backend("blocker");
    // SAFETY: `blocker` outlives the slot (unmapped below).
    unsafe { t.memory.map(WINDOW + REGION / 2, 4096, blocker.host_addr()) }.unwrap();
    let before = map_count();
    path.set_host_bridge_decoders(0, vec![decoder(2, HdmDecoderTarget::Ports(vec![0, 1]))]);
    let MemPath::Trapped(why) = path.paths(0)[0].path.clone() else {
        panic!("composed over a live memslot");
    };
    assert!(why.to_string().contains("overlaps"), "{why}");
    // The 512 mappings it built are gone again (other tests may map a
    // little meanwhile).
    assert!(map_count() < before + 64, "{before} -> {}", map_count());
    assert_eq!(t.memory.slot_at(WINDOW), None);
    // Once the way is clear, the next change composes it.
    t.memory.unmap(WINDOW + REGION / 2).unwrap();
    path.set_endpoint_memory(
        0,
        vec![MemoryRange {
            dpa: 0,
            len: REGION / 2,
            backend: devs[0].clone(),
            offset: 0,
        }],
    );
    assert_eq!(t.memory.slot_at(WINDOW).map(|s| s.len), Some(REGION));
    assert_eq!(t.run(100), Ok(0x5a));
}

#[test]
fn a_4k_interleave_is_one_memslot_the_vcpu_writes_without_exits() {
    let _one = COMPOSING.lock().unwrap_or_else(|e| e.into_inner());
    let mut t = TestVm::new(&write_loop());
    t.map_high_gib(WINDOW);
    let devs = [backend("il0"), backend("il1")];
    let path = interleaved_path(&t, &devs);
    let hb = decoder(2, HdmDecoderTarget::Ports(vec![0, 1]));
    path.set_host_bridge_decoders(0, vec![hb.clone()]);
    let slot = t
        .memory
        .slot_at(WINDOW)
        .expect("one memslot over the region");
    assert_eq!((slot.gpa, slot.len), (WINDOW, REGION));
    assert_eq!(
        path.paths(1)[0].path,
        MemPath::Composed {
            mappings: REGION / GRANULE
        }
    );

    assert_eq!(t.run(100), Ok(0x5a));
    assert_eq!(path.stats(), PathStats::default(), "an access exited");
    let il = Interleave::new(2, GRANULE).unwrap();
    for k in 0..REGION / STEP {
        let off = k * STEP;
        let dev = &devs[il.position(off) as usize];
        let mut b = [0u8; 8];
        dev.read(il.hpa_to_dpa(off), &mut b).unwrap();
        assert_eq!(u64::from_le_bytes(b), WINDOW + off, "HPA offset {off:#x}");
        // The trapped path reads the same bytes.
        path.read(WINDOW + off, &mut b);
        assert_eq!(u64::from_le_bytes(b), WINDOW + off);
    }

    let checked = path.stats();
    // Uncommit: the memslot goes (accesses would exit); commit again: it
    // comes back over the same memory.
    let mut off = hb.clone();
    off.committed = false;
    path.set_host_bridge_decoders(0, vec![off]);
    assert_eq!(t.memory.slot_at(WINDOW), None);
    assert!(path.mappings().is_empty());
    path.set_host_bridge_decoders(0, vec![hb]);
    assert!(t.memory.slot_at(WINDOW).is_some());
    let probe = WINDOW + 3 * STEP;
    let code = Asm::default()
        .mov_rbx(probe)
        .load_rax_rbx()
        .mov_rbx(RESULT)
        .store_rbx_rax()
        .mov_rax(0x5b)
        .finish();
    t.memory
        .ram()
        .write_slice(&code, GuestAddress(CODE_ADDR))
        .unwrap();
    t.vcpu.set_boot_state(CODE_ADDR).unwrap();
    assert_eq!(t.run(100), Ok(0x5b));
    let got: u64 = t.memory.ram().read_obj(GuestAddress(RESULT)).unwrap();
    assert_eq!(got, probe);
    assert_eq!(path.stats(), checked, "an access exited");
}
