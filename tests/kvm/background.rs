//! Background operations end to end on this machine's KVM: a "driver"
//! starts Sanitize and Transfer FW through the device's registers on the
//! MMIO bus (the path vCPU exits take); the VMM's background timer (a real
//! timerfd) becomes readable at the deadline and, as the event loop does,
//! completes the operation without any register access in between.

use std::sync::{Arc, Mutex};

use devices::cxl::type3::Type3;
use vmm::cxl_background::CxlBackgroundTimer;

use crate::dcd_guest::{config, Regs};
use crate::harness::TestVm;

const SANITIZE: u16 = 0x4400;
const GET_FW_INFO: u16 = 0x0200;
const TRANSFER_FW: u16 = 0x0201;
const ACTIVATE_FW: u16 = 0x0202;
const IDENTIFY_MEMORY_DEVICE: u16 = 0x4000;
const RC_BACKGROUND_COMMAND_STARTED: u64 = 1;

/// Waits (up to 10 s) for the timer to fire, then does what the event
/// loop does.
fn timer_fires(timer: &CxlBackgroundTimer, devices: &[Arc<Mutex<Type3>>]) {
    let mut pfd = libc::pollfd {
        fd: timer.raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll on one pollfd of ours; the timer's descriptor is open
    // while `timer` lives.
    let n = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    assert_eq!(n, 1, "the background timer fired");
    timer.fired(devices);
}

fn setup() -> (
    TestVm,
    Regs,
    Arc<CxlBackgroundTimer>,
    Vec<Arc<Mutex<Type3>>>,
) {
    let t = TestVm::with_config(&[0xf4], &config());
    let r = Regs::guest_setup(&t.mmio);
    let dm = t.devices.clone().expect("devices");
    let timer = dm
        .cxl
        .background_timer
        .clone()
        .expect("a timer with devices");
    let devices = dm.cxl.type3.iter().map(|h| h.device.clone()).collect();
    (t, r, timer, devices)
}

#[test]
fn sanitize_completes_at_the_timer() {
    let (_t, r, timer, devices) = setup();
    let (rc, _) = r.mbox(SANITIZE, &[]);
    assert_eq!(rc, RC_BACKGROUND_COMMAND_STARTED);
    assert!(devices[0]
        .lock()
        .unwrap()
        .memdev()
        .background()
        .is_running());
    timer_fires(&timer, &devices);
    assert!(
        !devices[0]
            .lock()
            .unwrap()
            .memdev()
            .background()
            .is_running(),
        "completed by the timer, not by a register read"
    );
    let bg = r.read(r.bar0 + 0x1_0000 + 0x200 + 0x18, 8);
    assert_eq!(bg & 0xffff, u64::from(SANITIZE));
    assert_eq!(bg >> 16 & 0x7f, 100);
    assert_eq!(bg >> 32 & 0xffff, 0);
}

#[test]
fn firmware_update_then_online_activation() {
    let (_t, r, timer, devices) = setup();
    // A Full transfer into slot 2 of an image whose revision is "cxl-fw-2".
    let mut input = vec![0u8; 0x80];
    input[1] = 2;
    let mut image = b"cxl-fw-2".to_vec();
    image.resize(600, 0);
    image[16..].fill(0xab);
    input.extend_from_slice(&image);
    let (rc, _) = r.mbox(TRANSFER_FW, &input);
    assert_eq!(rc, RC_BACKGROUND_COMMAND_STARTED);
    timer_fires(&timer, &devices);
    let (rc, info) = r.mbox(GET_FW_INFO, &[]);
    assert_eq!(rc, 0);
    assert_eq!(&info[0x20..0x28], b"cxl-fw-2");
    assert_eq!(r.mbox(ACTIVATE_FW, &[0, 2]).0, 0);
    let (_, info) = r.mbox(GET_FW_INFO, &[]);
    assert_eq!(info[1] & 7, 2, "slot 2 active");
    let (_, id) = r.mbox(IDENTIFY_MEMORY_DEVICE, &[]);
    assert_eq!(&id[..8], b"cxl-fw-2");
}
