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
use std::time::{Duration, Instant};

use crate::mem::Mapping;
use crate::pattern::word;

const CLASS_CXL_MEMORY: &str = "0x050210";
const CXL_VENDOR: u64 = 0x1e98;
/// Register Locator DVSEC (8.1.9) and its block identifiers.
const DVSEC_REGISTER_LOCATOR: u64 = 8;
const BLOCK_COMPONENT: u64 = 1;
const BLOCK_MEMDEV: u64 = 3;
/// CXL.cachemem registers in the component block (8.2.4), HDM Decoder
/// Capability ID (8.2.4.20).
const CACHEMEM: usize = 0x1000;
const CAP_HDM: u32 = 5;
/// Device capability IDs (8.2.8.2.1): status, primary mailbox, memdev status.
const CAP_DEVICE_STATUS: u32 = 1;
const CAP_MAILBOX: u32 = 2;
const CAP_MEMDEV: u32 = 0x4000;
const DC_LOG: u8 = 4;
const DC_EVENT_STATUS_BIT: u64 = 1 << 4;
const EVENT_ADD: u8 = 0;
const EVENT_RELEASE: u8 = 1;
const EVENT_FORCED: u8 = 2;
const MORE: u8 = 1;

/// The device: sysfs directory, config space file, and its register blocks
/// found through the Register Locator DVSEC and the capability arrays (so it
/// works with any VMM's layout).
pub struct Device {
    dir: String,
    config: File,
    comp: Mapping,
    hdm: usize,
    regs: Mapping,
    status: usize,
    mailbox: usize,
    memdev: usize,
}

fn read_file(p: &str) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"))
}

fn cfg_at(config: &File, off: u64, n: usize) -> Result<u64, String> {
    let mut b = [0u8; 8];
    config
        .read_exact_at(&mut b[..n], off)
        .map_err(|e| format!("config read {off:#x}: {e}"))?;
    Ok(u64::from_le_bytes(b))
}

/// Offsets of the PCIe extended capabilities with ID `id`.
fn ext_caps(config: &File, id: u64) -> Result<Vec<u64>, String> {
    let mut found = Vec::new();
    let mut cap = 0x100;
    for _ in 0..64 {
        let h = cfg_at(config, cap, 4)?;
        if h & 0xffff == id {
            found.push(cap);
        }
        cap = h >> 20;
        if cap == 0 {
            break;
        }
    }
    Ok(found)
}

/// The Device Serial Number (extended capability 3), if any.
fn serial(config: &File) -> Result<Option<u64>, String> {
    match ext_caps(config, 3)?.first() {
        Some(&c) => Ok(Some(cfg_at(config, c + 4, 8)?)),
        None => Ok(None),
    }
}

/// The CXL DVSEC with ID `dvsec_id`.
fn cxl_dvsec(config: &File, dvsec_id: u64) -> Result<Option<u64>, String> {
    for c in ext_caps(config, 0x23)? {
        if cfg_at(config, c + 4, 2)? == CXL_VENDOR && cfg_at(config, c + 8, 2)? == dvsec_id {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// Maps register block `block` (BAR and offset from the Register Locator).
fn map_block(dir: &str, config: &File, block: u64) -> Result<Mapping, String> {
    let loc = cxl_dvsec(config, DVSEC_REGISTER_LOCATOR)?.ok_or("no Register Locator DVSEC")?;
    let len = (cfg_at(config, loc + 4, 4)? >> 20) & 0xfff;
    let mut e = loc + 0x0c;
    while e + 8 <= loc + len {
        let lo = cfg_at(config, e, 4)?;
        let hi = cfg_at(config, e + 4, 4)?;
        if (lo >> 8) & 0xff == block {
            let bar = lo & 7;
            let off = (lo & 0xffff_0000) | (hi << 32);
            let path = format!("{dir}/resource{bar}");
            let size = std::fs::metadata(&path)
                .map_err(|e| format!("{path}: {e}"))?
                .len();
            let map_len = size.saturating_sub(off).min(0x1_0000) as usize;
            return Mapping::file(&path, off, map_len);
        }
        e += 8;
    }
    Err(format!("Register Locator has no block of type {block}"))
}

impl Device {
    /// The CXL memory device on the PCI bus whose serial number is
    /// `CXL_GUEST_SERIAL` (the first one when that is not set).
    pub fn find() -> Result<Self, String> {
        let want = match std::env::var("CXL_GUEST_SERIAL") {
            Ok(s) => Some(crate::pattern::parse_u64(&s)?),
            Err(_) => None,
        };
        let mut dirs: Vec<String> = std::fs::read_dir("/sys/bus/pci/devices")
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok())
            .map(|e| e.path().display().to_string())
            .collect();
        dirs.sort();
        let mut chosen = None;
        for d in dirs {
            if !read_file(&format!("{d}/class")).is_ok_and(|c| c.trim() == CLASS_CXL_MEMORY) {
                continue;
            }
            let config = OpenOptions::new()
                .read(true)
                .write(true)
                .open(format!("{d}/config"))
                .map_err(|e| format!("{d}/config: {e}"))?;
            if want.is_none() || serial(&config)? == want {
                chosen = Some((d, config));
                break;
            }
        }
        let (dir, config) = chosen.ok_or(match want {
            Some(s) => format!("no CXL memory device (class 050210) with serial {s:#x}"),
            None => "no CXL memory device (class 050210)".to_string(),
        })?;
        if std::path::Path::new(&format!("{dir}/driver")).exists() {
            return Err(format!("{dir} is bound to a kernel driver"));
        }
        let comp = map_block(&dir, &config, BLOCK_COMPONENT)?;
        let regs = map_block(&dir, &config, BLOCK_MEMDEV)?;
        let mut hdm = None;
        let n = comp.read_u32(CACHEMEM) >> 24;
        for i in 1..=n as usize {
            let h = comp.read_u32(CACHEMEM + 4 * i);
            if h & 0xffff == CAP_HDM {
                hdm = Some(CACHEMEM + (h >> 20) as usize);
            }
        }
        let (mut status, mut mailbox, mut memdev) = (None, None, None);
        let count = (regs.read_u64(0) >> 32) & 0xffff;
        for i in 1..=count as usize {
            let off = Some(regs.read_u32(0x10 * i + 4) as usize);
            match regs.read_u32(0x10 * i) & 0xffff {
                CAP_DEVICE_STATUS => status = off,
                CAP_MAILBOX => mailbox = off,
                CAP_MEMDEV => memdev = off,
                _ => {}
            }
        }
        let mut d = Self {
            dir,
            config,
            comp,
            hdm: hdm.ok_or("no HDM Decoder Capability")?,
            regs,
            status: status.ok_or("no Device Status capability")?,
            mailbox: mailbox.ok_or("no Primary Mailbox capability")?,
            memdev: memdev.ok_or("no Memory Device Status capability")?,
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
        cfg_at(&self.config, off, n)
    }

    fn set_cfg(&mut self, off: u64, v: u64, n: usize) -> Result<(), String> {
        self.config
            .write_all_at(&v.to_le_bytes()[..n], off)
            .map_err(|e| format!("config write {off:#x}: {e}"))
    }

    /// Memory Device Status: Mailbox Interfaces Ready (bit 4). The media
    /// may be disabled (a Sanitize running): the mailbox still answers.
    fn check_mailbox_ready(&self) -> Result<(), String> {
        let status = self.regs.read_u64(self.memdev);
        if status & (1 << 4) == 0 {
            return Err(format!(
                "memory device status {status:#x}: mailbox not ready"
            ));
        }
        Ok(())
    }

    /// Runs a mailbox command; its output, or the return code as an error.
    pub fn mbox(&self, opcode: u16, input: &[u8]) -> Result<Vec<u8>, u16> {
        let mb = self.mailbox;
        for (i, chunk) in input.chunks(8).enumerate() {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.regs
                .write_u64(mb + 0x20 + i * 8, u64::from_le_bytes(b));
        }
        self.regs
            .write_u64(mb + 0x08, u64::from(opcode) | ((input.len() as u64) << 16));
        // The doorbell (Mailbox Control bit 0) as one dword store.
        self.regs.write_u32(mb + 0x04, 1);
        while self.regs.read_u32(mb + 0x04) & 1 != 0 {
            sleep(Duration::from_millis(1));
        }
        let rc = ((self.regs.read_u64(mb + 0x10) >> 32) & 0xffff) as u16;
        if rc != 0 {
            return Err(rc);
        }
        let len = ((self.regs.read_u64(mb + 0x08) >> 16) & 0x1f_ffff) as usize;
        let mut out = Vec::with_capacity(len);
        for i in 0..len.div_ceil(8) {
            out.extend(self.regs.read_u64(mb + 0x20 + i * 8).to_le_bytes());
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
        let hdm = self.hdm;
        let dec = hdm + 0x10;
        let c = &self.comp;
        c.write_u32(dec, window as u32);
        c.write_u32(dec + 0x04, (window >> 32) as u32);
        c.write_u32(dec + 0x08, size as u32);
        c.write_u32(dec + 0x0c, (size >> 32) as u32);
        c.write_u32(dec + 0x14, dpa_base as u32);
        c.write_u32(dec + 0x18, (dpa_base >> 32) as u32);
        c.write_u32(dec + 0x10, 1 << 9);
        let mut ctrl = c.read_u32(dec + 0x10);
        for _ in 0..100 {
            if ctrl & (1 << 10) != 0 {
                break;
            }
            sleep(Duration::from_millis(10));
            ctrl = c.read_u32(dec + 0x10);
        }
        if ctrl & (1 << 10) == 0 {
            return Err(format!("decoder 0 did not commit (control {ctrl:#x})"));
        }
        c.write_u32(hdm + 0x04, 1 << 1);
        let dvsec = cxl_dvsec(&self.config, 0)?.ok_or("no PCIe DVSEC for CXL Devices")?;
        let ctl = self.cfg(dvsec + 0x0c, 2)? | (1 << 2);
        self.set_cfg(dvsec + 0x0c, ctl, 2)
    }

    /// Waits for DC events and returns one whole More chain:
    /// (event type, [(dpa, len)]).
    pub fn next_chain(&self) -> Result<(u8, Vec<(u64, u64)>), String> {
        let mut chain = Vec::new();
        let mut kind = None;
        loop {
            while self.regs.read_u64(self.status) & DC_EVENT_STATUS_BIT == 0 {
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

    /// The mailbox's Payload Size (Mailbox Capabilities bits 4:0, a power
    /// of two, CXL 3.1 8.2.8.4.3).
    pub fn payload_size(&self) -> usize {
        1usize << (self.regs.read_u32(self.mailbox) & 0x1f).clamp(8, 20)
    }

    /// Add DC Response (0x4802) or Release DC (0x4803) with `extents`, in
    /// as many commands as the payload needs, More (Flags bit 0) on all
    /// but the last, as Linux's driver sends them (CXL 3.1 8.2.9.9.9.3).
    pub fn respond(&self, opcode: u16, extents: &[(u64, u64)]) -> Result<(), String> {
        for p in update_payloads(extents, self.payload_size()) {
            self.mbox(opcode, &p)
                .map_err(|rc| format!("command {opcode:#x}: return code {rc:#x}"))?;
        }
        Ok(())
    }
}

/// Updated Extent List payloads for `extents`: an 8-byte header (count,
/// Flags) and 24 bytes per extent, at most `payload` bytes each. An empty
/// list is one payload with no extents.
pub fn update_payloads(extents: &[(u64, u64)], payload: usize) -> Vec<Vec<u8>> {
    let per = (payload.saturating_sub(8) / 24).max(1);
    let parts: Vec<&[(u64, u64)]> = if extents.is_empty() {
        vec![&[]]
    } else {
        extents.chunks(per).collect()
    };
    let last = parts.len() - 1;
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let mut p = (part.len() as u32).to_le_bytes().to_vec();
            p.extend([u8::from(i < last) * MORE, 0, 0, 0]);
            for (dpa, len) in part.iter() {
                p.extend(dpa.to_le_bytes());
                p.extend(len.to_le_bytes());
                p.extend([0u8; 8]);
            }
            p
        })
        .collect()
}

/// `dcd-serve WINDOW SEED PLAN`: set the device up, then answer DC event
/// chains forever: Add Capacity by the next PLAN word (`accept` writes the
/// pattern into each extent through /dev/mem, `bare` accepts without
/// writing, `decline` answers with no extents, `slow` holds the offer 15 s
/// before accepting; a word ending in `*` repeats for every later offer;
/// past the plan, `accept`), Release Capacity by releasing the extents (and
/// reading one back through /dev/mem: all-ones once unmapped), Forced
/// Capacity Release by noting it. Accepted and released lines carry
/// `respond_us=`, the time the Add DC Response / Release DC command took
/// from doorbell to completion as this driver saw it.
pub fn serve(window: u64, seed: u64, plan: &str) -> Result<(), String> {
    let mut dev = Device::find()?;
    let (base, decode_len, block) = dev.dc_region0()?;
    dev.setup_decoder(window, decode_len, base)?;
    println!(
        "E2E-DCD ready device={} region0_base={base:#x} decode_len={decode_len:#x} block={block:#x}",
        dev.name()
    );
    let hpa = |dpa: u64| window + (dpa - base);
    let mut plan = Plan::new(plan);
    loop {
        let (kind, extents) = dev.next_chain()?;
        match kind {
            EVENT_ADD => match plan.next_word() {
                "slow" => {
                    // Leave the offer pending for a while, then accept.
                    println!("E2E-DCD holding n={}", extents.len());
                    sleep(Duration::from_secs(15));
                    accept(&dev, &extents, seed, &hpa, true)?;
                }
                "bare" => accept(&dev, &extents, seed, &hpa, false)?,
                "decline" => {
                    dev.respond(0x4802, &[])?;
                    println!("E2E-DCD declined n={}", extents.len());
                }
                _ => accept(&dev, &extents, seed, &hpa, true)?,
            },
            EVENT_RELEASE => {
                let t = Instant::now();
                dev.respond(0x4803, &extents)?;
                let us = t.elapsed().as_micros();
                for (dpa, len) in &extents {
                    let m = Mapping::file("/dev/mem", hpa(*dpa), 4096)?;
                    println!(
                        "E2E-DCD released dpa={dpa:#x} len={len:#x} read_after={:#x} respond_us={us}",
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

/// The plan of answers to successive offers.
struct Plan<'a> {
    words: Vec<&'a str>,
    next: usize,
}

impl<'a> Plan<'a> {
    fn new(plan: &'a str) -> Self {
        Self {
            words: plan.split(',').filter(|p| !p.is_empty()).collect(),
            next: 0,
        }
    }

    fn next_word(&mut self) -> &'a str {
        match self.words.get(self.next) {
            Some(w) => match w.strip_suffix('*') {
                Some(repeated) => repeated,
                None => {
                    self.next += 1;
                    w
                }
            },
            None => "accept",
        }
    }
}

/// Accepts `extents` and, with `write`, writes the pattern into the first
/// 64 KiB of each through /dev/mem at its HPA.
fn accept(
    dev: &Device,
    extents: &[(u64, u64)],
    seed: u64,
    hpa: &dyn Fn(u64) -> u64,
    write: bool,
) -> Result<(), String> {
    let t = Instant::now();
    dev.respond(0x4802, extents)?;
    let us = t.elapsed().as_micros();
    for (dpa, len) in extents {
        let n = if write { (*len).min(65536) as usize } else { 0 };
        if n > 0 {
            let m = Mapping::file("/dev/mem", hpa(*dpa), n)?;
            for off in (0..n).step_by(8) {
                m.write_u64(off, word(seed, off as u64));
            }
        }
        println!(
            "E2E-DCD accepted dpa={dpa:#x} len={len:#x} hpa={:#x} wrote={n} respond_us={us}",
            hpa(*dpa)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{update_payloads, Plan, MORE};

    #[test]
    fn responses_split_at_the_payload_size_with_more() {
        let extents: Vec<(u64, u64)> = (0..256u64).map(|i| (i << 21, 1 << 21)).collect();
        let parts = update_payloads(&extents, 2048);
        // (2048 - 8) / 24 = 85 per command: 85 + 85 + 85 + 1.
        let counts: Vec<u32> = parts
            .iter()
            .map(|p| u32::from_le_bytes(p[0..4].try_into().unwrap()))
            .collect();
        assert_eq!(counts, [85, 85, 85, 1]);
        let flags: Vec<u8> = parts.iter().map(|p| p[4]).collect();
        assert_eq!(flags, [MORE, MORE, MORE, 0]);
        assert!(parts.iter().all(|p| p.len() <= 2048));
        // The extents come out in order, none lost.
        let mut seen = Vec::new();
        for p in &parts {
            for e in p[8..].chunks(24) {
                seen.push(u64::from_le_bytes(e[0..8].try_into().unwrap()));
            }
        }
        assert_eq!(seen, extents.iter().map(|e| e.0).collect::<Vec<_>>());
        // No extents (a decline): one command, no More.
        let none = update_payloads(&[], 2048);
        assert_eq!(none, vec![vec![0u8; 8]]);
    }

    #[test]
    fn plan_words_and_repeat() {
        let mut p = Plan::new("decline,bare*");
        assert_eq!(p.next_word(), "decline");
        assert_eq!(p.next_word(), "bare");
        assert_eq!(p.next_word(), "bare");
        let mut p = Plan::new("slow");
        assert_eq!(p.next_word(), "slow");
        assert_eq!(p.next_word(), "accept");
    }
}
