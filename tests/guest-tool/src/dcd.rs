//! A user-space Dynamic Capacity driver for the e2e guest (Debian's kernels
//! have no DCD support): it owns the Type 3 device's mailbox through PCI
//! sysfs (no kernel CXL driver bound), programs the endpoint decoder, and
//! answers Dynamic Capacity events as a plan says, printing one line per
//! step for the host script to wait on.
//!
//! CXL 3.1 layouts used: Get Event Records 8.2.9.2.2 (records of 128 bytes:
//! common header 30h, DC event data from 30h: type 30h, region 34h, flags
//! 35h, extent 38h = DPA, 40h = length, 48h = tag), Clear Event Records
//! 8.2.9.2.3, Get DC Config 8.2.9.9.9.1 (region configs from 08h, 28h each:
//! base, decode length in 256 MiB units, length, block size),
//! Add DC Response / Release DC 8.2.9.9.9.3/4, HDM decoders 8.2.4.20.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::thread::sleep;
use std::time::Duration;

use crate::mem::Mapping;
use crate::pattern::word;

const CLASS_CXL_MEMORY: &str = "0x050210";
/// Component registers at BAR 0 offset 0, device registers at 64 KiB.
const DEVICE_REGS: usize = 0x1_0000;
const EVENT_STATUS: usize = DEVICE_REGS + 0x100;
const MAILBOX: usize = DEVICE_REGS + 0x200;
const HDM: usize = 0x1100;
const DC_LOG: u8 = 4;
const DC_EVENT_STATUS_BIT: u64 = 1 << 4;
const EVENT_ADD: u8 = 0;
const EVENT_RELEASE: u8 = 1;
const EVENT_FORCED: u8 = 2;
const MORE: u8 = 1;

/// The device: sysfs directory, config space file, BAR 0 mapping.
pub struct Device {
    dir: String,
    config: File,
    bar0: Mapping,
}

fn read_file(p: &str) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"))
}

impl Device {
    /// The first CXL memory device on the PCI bus.
    pub fn find() -> Result<Self, String> {
        let mut dirs: Vec<String> = std::fs::read_dir("/sys/bus/pci/devices")
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok())
            .map(|e| e.path().display().to_string())
            .collect();
        dirs.sort();
        let dir = dirs
            .into_iter()
            .find(|d| read_file(&format!("{d}/class")).is_ok_and(|c| c.trim() == CLASS_CXL_MEMORY))
            .ok_or("no CXL memory device (class 050210)")?;
        if std::path::Path::new(&format!("{dir}/driver")).exists() {
            return Err(format!("{dir} is bound to a kernel driver"));
        }
        let config = OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("{dir}/config"))
            .map_err(|e| format!("{dir}/config: {e}"))?;
        let mut d = Self {
            bar0: Mapping::file(&format!("{dir}/resource0"), 0, 0x2_0000)?,
            dir,
            config,
        };
        // Memory Space and Bus Master.
        let cmd = d.cfg(0x04, 2)? | 0x6;
        d.set_cfg(0x04, cmd, 2)?;
        d.check_mailbox_ready()?;
        Ok(d)
    }

    /// The sysfs directory (the BDF).
    pub fn name(&self) -> &str {
        self.dir.rsplit('/').next().unwrap_or(&self.dir)
    }

    fn cfg(&self, off: u64, n: usize) -> Result<u64, String> {
        let mut b = [0u8; 8];
        self.config
            .read_exact_at(&mut b[..n], off)
            .map_err(|e| format!("config read {off:#x}: {e}"))?;
        Ok(u64::from_le_bytes(b))
    }

    fn set_cfg(&mut self, off: u64, v: u64, n: usize) -> Result<(), String> {
        self.config
            .write_all_at(&v.to_le_bytes()[..n], off)
            .map_err(|e| format!("config write {off:#x}: {e}"))
    }

    fn r32(&self, off: usize) -> u32 {
        (self.bar0.read_u64(off & !7) >> ((off & 4) * 8)) as u32
    }

    fn w32(&self, off: usize, v: u32) {
        // One 64-bit access touching only the addressed dword.
        let base = off & !7;
        let old = self.bar0.read_u64(base);
        let shift = (off & 4) * 8;
        let new = (old & !(0xffff_ffffu64 << shift)) | (u64::from(v) << shift);
        self.bar0.write_u64(base, new);
    }

    fn check_mailbox_ready(&self) -> Result<(), String> {
        let status = self.bar0.read_u64(DEVICE_REGS + 0x180);
        if status & (1 << 4) == 0 || (status >> 2) & 3 != 1 {
            return Err(format!(
                "memory device status {status:#x}: mailbox or media not ready"
            ));
        }
        Ok(())
    }

    /// Runs a mailbox command; its output, or the return code as an error.
    pub fn mbox(&self, opcode: u16, input: &[u8]) -> Result<Vec<u8>, u16> {
        for (i, chunk) in input.chunks(8).enumerate() {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.bar0
                .write_u64(MAILBOX + 0x20 + i * 8, u64::from_le_bytes(b));
        }
        self.bar0.write_u64(
            MAILBOX + 0x08,
            u64::from(opcode) | ((input.len() as u64) << 16),
        );
        self.w32(MAILBOX + 0x04, 1);
        while self.r32(MAILBOX + 0x04) & 1 != 0 {
            sleep(Duration::from_millis(1));
        }
        let rc = ((self.bar0.read_u64(MAILBOX + 0x10) >> 32) & 0xffff) as u16;
        if rc != 0 {
            return Err(rc);
        }
        let len = ((self.bar0.read_u64(MAILBOX + 0x08) >> 16) & 0x1f_ffff) as usize;
        let mut out = Vec::with_capacity(len);
        for i in 0..len.div_ceil(8) {
            out.extend(self.bar0.read_u64(MAILBOX + 0x20 + i * 8).to_le_bytes());
        }
        out.truncate(len);
        Ok(out)
    }

    /// DC region 0: (base DPA, decode length, block size).
    pub fn dc_region0(&self) -> Result<(u64, u64, u64), String> {
        let out = self
            .mbox(0x4800, &[1, 0])
            .map_err(|rc| format!("Get DC Config: return code {rc:#x}"))?;
        let q = |o: usize| u64::from_le_bytes(out[o..o + 8].try_into().unwrap_or([0; 8]));
        if out.len() < 0x30 || out[1] == 0 {
            return Err("Get DC Config returned no region".into());
        }
        Ok((q(0x08), q(0x10) << 28, q(0x20)))
    }

    /// Programs and commits endpoint decoder 0 (`window` .. + `size` ->
    /// DPA `dpa_base`), enables HDM decoding and Mem_Enable.
    pub fn setup_decoder(&mut self, window: u64, size: u64, dpa_base: u64) -> Result<(), String> {
        let dec = HDM + 0x10;
        self.w32(dec, window as u32);
        self.w32(dec + 0x04, (window >> 32) as u32);
        self.w32(dec + 0x08, size as u32);
        self.w32(dec + 0x0c, (size >> 32) as u32);
        self.w32(dec + 0x14, dpa_base as u32);
        self.w32(dec + 0x18, (dpa_base >> 32) as u32);
        self.w32(dec + 0x10, 1 << 9);
        let ctrl = self.r32(dec + 0x10);
        if ctrl & (1 << 10) == 0 {
            return Err(format!("decoder 0 did not commit (control {ctrl:#x})"));
        }
        self.w32(HDM + 0x04, 1 << 1);
        let dvsec = self.device_dvsec()?;
        let ctl = self.cfg(dvsec + 0x0c, 2)? | (1 << 2);
        self.set_cfg(dvsec + 0x0c, ctl, 2)
    }

    fn device_dvsec(&self) -> Result<u64, String> {
        let mut cap = 0x100;
        for _ in 0..64 {
            let h = self.cfg(cap, 4)?;
            if h & 0xffff == 0x23 && self.cfg(cap + 4, 2)? == 0x1e98 && self.cfg(cap + 8, 2)? == 0 {
                return Ok(cap);
            }
            cap = h >> 20;
            if cap == 0 {
                break;
            }
        }
        Err("no PCIe DVSEC for CXL Devices".into())
    }

    /// Waits for DC events and returns one whole More chain:
    /// (event type, [(dpa, len)]).
    pub fn next_chain(&self) -> Result<(u8, Vec<(u64, u64)>), String> {
        let mut chain = Vec::new();
        let mut kind = None;
        loop {
            while self.bar0.read_u64(EVENT_STATUS) & DC_EVENT_STATUS_BIT == 0 {
                sleep(Duration::from_millis(20));
            }
            let out = self
                .mbox(0x0100, &[DC_LOG])
                .map_err(|rc| format!("Get Event Records: {rc:#x}"))?;
            let count = usize::from(u16::from_le_bytes([out[0x14], out[0x15]]));
            let mut handles = Vec::new();
            let mut done = false;
            for i in 0..count {
                let r = out
                    .get(0x20 + i * 128..0x20 + (i + 1) * 128)
                    .ok_or("short record")?;
                handles.push(u16::from_le_bytes([r[0x14], r[0x15]]));
                let q = |o: usize| u64::from_le_bytes(r[o..o + 8].try_into().unwrap_or([0; 8]));
                kind.get_or_insert(r[0x30]);
                chain.push((q(0x38), q(0x40)));
                if r[0x35] & MORE == 0 {
                    done = true;
                    break;
                }
            }
            let mut clear = vec![DC_LOG, 0, handles.len() as u8, 0, 0, 0];
            for h in &handles {
                clear.extend(h.to_le_bytes());
            }
            self.mbox(0x0101, &clear)
                .map_err(|rc| format!("Clear Event Records: {rc:#x}"))?;
            if done {
                return Ok((kind.unwrap_or(0xff), chain));
            }
        }
    }

    /// Add DC Response (0x4802) or Release DC (0x4803) with `extents`.
    pub fn respond(&self, opcode: u16, extents: &[(u64, u64)]) -> Result<(), String> {
        let mut p = (extents.len() as u32).to_le_bytes().to_vec();
        p.extend([0u8; 4]);
        for (dpa, len) in extents {
            p.extend(dpa.to_le_bytes());
            p.extend(len.to_le_bytes());
            p.extend([0u8; 8]);
        }
        self.mbox(opcode, &p)
            .map(|_| ())
            .map_err(|rc| format!("command {opcode:#x}: return code {rc:#x}"))
    }
}

/// `dcd-serve WINDOW SEED PLAN`: set the device up, then answer DC event
/// chains forever: Add Capacity by the next PLAN word (`accept` writes the
/// pattern into each extent through /dev/mem, `decline` answers with no
/// extents), Release Capacity by releasing the extents (and reading one back
/// through /dev/mem: all-ones once unmapped), Forced Capacity Release by
/// noting it.
pub fn serve(window: u64, seed: u64, plan: &str) -> Result<(), String> {
    let mut dev = Device::find()?;
    let (base, decode_len, block) = dev.dc_region0()?;
    dev.setup_decoder(window, decode_len, base)?;
    println!(
        "E2E-DCD ready device={} region0_base={base:#x} decode_len={decode_len:#x} block={block:#x}",
        dev.name()
    );
    let hpa = |dpa: u64| window + (dpa - base);
    let mut plan = plan.split(',').filter(|p| !p.is_empty());
    loop {
        let (kind, extents) = dev.next_chain()?;
        match kind {
            EVENT_ADD => match plan.next().unwrap_or("accept") {
                "slow" => {
                    // Leave the offer pending for a while, then accept.
                    println!("E2E-DCD holding n={}", extents.len());
                    sleep(Duration::from_secs(15));
                    accept(&dev, &extents, seed, &hpa)?;
                }
                "decline" => {
                    dev.respond(0x4802, &[])?;
                    println!("E2E-DCD declined n={}", extents.len());
                }
                _ => accept(&dev, &extents, seed, &hpa)?,
            },
            EVENT_RELEASE => {
                dev.respond(0x4803, &extents)?;
                for (dpa, len) in &extents {
                    let m = Mapping::file("/dev/mem", hpa(*dpa), 4096)?;
                    println!(
                        "E2E-DCD released dpa={dpa:#x} len={len:#x} read_after={:#x}",
                        m.read_u64(0)
                    );
                }
            }
            EVENT_FORCED => {
                for (dpa, len) in &extents {
                    println!("E2E-DCD forced dpa={dpa:#x} len={len:#x}");
                }
            }
            other => println!("E2E-DCD event type={other:#x} n={}", extents.len()),
        }
    }
}

/// Accepts `extents` and writes the pattern into the first 64 KiB of each
/// through /dev/mem at its HPA.
fn accept(
    dev: &Device,
    extents: &[(u64, u64)],
    seed: u64,
    hpa: &dyn Fn(u64) -> u64,
) -> Result<(), String> {
    dev.respond(0x4802, extents)?;
    for (dpa, len) in extents {
        let n = (*len).min(65536) as usize;
        let m = Mapping::file("/dev/mem", hpa(*dpa), n)?;
        for off in (0..n).step_by(8) {
            m.write_u64(off, word(seed, off as u64));
        }
        println!(
            "E2E-DCD accepted dpa={dpa:#x} len={len:#x} hpa={:#x} wrote={n}",
            hpa(*dpa)
        );
    }
    Ok(())
}
