//! ACPI fixed hardware (ACPI 6.5 4.8): the PM1a event and control blocks and
//! the power management timer, plus the reset register.
//!
//! The block sits at [`layout::ACPI_PM_PORT`]:
//!
//! | offset | register | width |
//! |---|---|---|
//! | 0 | PM1_STS (4.8.3.1.1, RW1C) | 16 |
//! | 2 | PM1_EN (4.8.3.1.2) | 16 |
//! | 4 | PM1_CNT (4.8.3.2.1) | 16 |
//! | 8 | PM_TMR (4.8.3.3, 32-bit, TMR_VAL_EXT) | 32 |
//!
//! The OS powers off by writing `SLP_TYP` = [`layout::ACPI_SLP_TYP_S5`] with
//! `SLP_EN` to PM1_CNT. The guest has no SMI command port, so the system is
//! always in ACPI mode: `SCI_EN` reads 1.
//!
//! [`AcpiReset`] is the FADT's RESET_REG (4.8.3.6), one byte at
//! [`layout::ACPI_RESET_PORT`].

use std::time::Instant;

use arch::layout;

use super::exit::{ExitHandler, ExitRequest};
use crate::bus::BusDevice;

/// PM1_STS: TMR_STS (bit 0), BM_STS (4), GBL_STS (5), PWRBTN_STS (8),
/// SLPBTN_STS (9), RTC_STS (10), WAK_STS (15): the write-1-to-clear bits.
const PM1_STS_W1C: u16 = 0x8731;
/// PM1_EN: TMR_EN (0), GBL_EN (5), PWRBTN_EN (8), SLPBTN_EN (9), RTC_EN (10).
const PM1_EN_MASK: u16 = 0x0721;
/// PM1_CNT.SCI_EN (bit 0).
pub const PM1_CNT_SCI_EN: u16 = 1 << 0;
/// PM1_CNT.SLP_TYPx field shift (bits 12:10).
pub const PM1_CNT_SLP_TYP_SHIFT: u16 = 10;
/// PM1_CNT.SLP_EN (bit 13, write-only).
pub const PM1_CNT_SLP_EN: u16 = 1 << 13;
/// PM1_CNT bits the OS may write and read back: BM_RLD (1), GBL_RLS (2),
/// SLP_TYPx (12:10).
const PM1_CNT_RW: u16 = 0x1c06;
/// The PM timer runs at 3.579545 MHz (ACPI 6.5 4.8.3.3).
pub const PM_TIMER_HZ: u128 = 3_579_545;

const PM1_STS: u64 = 0;
const PM1_EN: u64 = 2;
const PM1_CNT: u64 = layout::ACPI_PM1_CNT_OFFSET as u64;
const PM_TMR: u64 = layout::ACPI_PM_TMR_OFFSET as u64;

/// A monotonic clock in nanoseconds.
pub type NanoClock = Box<dyn Fn() -> u128 + Send>;

/// The ACPI PM1a event and control blocks and the PM timer.
pub struct AcpiPm {
    exit: ExitHandler,
    pm1_sts: u16,
    pm1_en: u16,
    pm1_cnt: u16,
    clock: NanoClock,
}

impl AcpiPm {
    /// A block that reports power-off to `exit`, timed by the host's
    /// monotonic clock.
    pub fn new(exit: ExitHandler) -> Self {
        let start = Instant::now();
        Self::with_clock(exit, Box::new(move || start.elapsed().as_nanos()))
    }

    /// A block timed by `clock` (nanoseconds).
    pub fn with_clock(exit: ExitHandler, clock: NanoClock) -> Self {
        Self {
            exit,
            pm1_sts: 0,
            pm1_en: 0,
            pm1_cnt: PM1_CNT_SCI_EN,
            clock,
        }
    }

    /// PM_TMR: ticks of the 3.579545 MHz clock, 32 bits.
    fn timer(&self) -> u32 {
        ((self.clock)() * PM_TIMER_HZ / 1_000_000_000) as u32
    }

    fn register(&self, reg: u64) -> u32 {
        match reg {
            PM1_STS => u32::from(self.pm1_sts) | (u32::from(self.pm1_en) << 16),
            PM1_CNT => u32::from(self.pm1_cnt),
            PM_TMR => self.timer(),
            _ => 0,
        }
    }

    fn write_pm1_cnt(&mut self, value: u16) {
        self.pm1_cnt = PM1_CNT_SCI_EN | (value & PM1_CNT_RW);
        let slp_typ = (value >> PM1_CNT_SLP_TYP_SHIFT) & 0x7;
        if value & PM1_CNT_SLP_EN != 0 && slp_typ == u16::from(layout::ACPI_SLP_TYP_S5) {
            (self.exit)(ExitRequest::Poweroff);
        }
    }
}

impl BusDevice for AcpiPm {
    fn read(&mut self, _base: u64, offset: u64, data: &mut [u8]) {
        for (i, b) in data.iter_mut().enumerate() {
            let Some(off) = offset.checked_add(i as u64) else {
                *b = 0;
                continue;
            };
            // Registers are dword-grouped: STS/EN at 0, CNT at 4, TMR at 8.
            *b = (self.register(off & !3) >> ((off & 3) * 8)) as u8;
        }
    }

    fn write(&mut self, _base: u64, offset: u64, data: &[u8]) {
        let mut value = [0u8; 4];
        let n = data.len().min(4);
        value[..n].copy_from_slice(&data[..n]);
        let v = u32::from_le_bytes(value);
        match (offset, n) {
            (PM1_STS, 1 | 2) => self.pm1_sts &= !(v as u16 & PM1_STS_W1C),
            (PM1_STS, 4) => {
                self.pm1_sts &= !(v as u16 & PM1_STS_W1C);
                self.pm1_en = (v >> 16) as u16 & PM1_EN_MASK;
            }
            (PM1_EN, 1 | 2) => self.pm1_en = v as u16 & PM1_EN_MASK,
            (PM1_CNT, 2 | 4) => self.write_pm1_cnt(v as u16),
            (PM1_CNT, 1) => self.write_pm1_cnt((self.pm1_cnt & 0xff00) | (v as u16 & 0xff)),
            (o, 1) if o == PM1_CNT + 1 => {
                self.write_pm1_cnt((self.pm1_cnt & 0x00ff) | ((v as u16 & 0xff) << 8))
            }
            // PM_TMR is read-only; anything else is reserved.
            _ => {}
        }
    }
}

/// The FADT reset register: writing [`layout::ACPI_RESET_VALUE`] resets.
pub struct AcpiReset {
    exit: ExitHandler,
}

impl AcpiReset {
    /// A reset register reporting to `exit`.
    pub fn new(exit: ExitHandler) -> Self {
        Self { exit }
    }
}

impl BusDevice for AcpiReset {
    fn read(&mut self, _base: u64, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn write(&mut self, _base: u64, offset: u64, data: &[u8]) {
        if offset == 0 && data.first() == Some(&layout::ACPI_RESET_VALUE) {
            (self.exit)(ExitRequest::Reset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::ExitRecorder;

    const BASE: u64 = layout::ACPI_PM_PORT as u64;

    fn read_u32(dev: &mut AcpiPm, off: u64) -> u32 {
        let mut b = [0u8; 4];
        dev.read(BASE, off, &mut b);
        u32::from_le_bytes(b)
    }

    #[test]
    fn s5_powers_off() {
        let rec = ExitRecorder::new();
        let mut dev = AcpiPm::new(rec.handler());
        // SLP_TYP=5 without SLP_EN: nothing.
        dev.write(BASE, PM1_CNT, &(5u16 << 10).to_le_bytes());
        assert!(rec.requests().is_empty());
        // SLP_TYP=0 (S0) with SLP_EN: nothing.
        dev.write(BASE, PM1_CNT, &PM1_CNT_SLP_EN.to_le_bytes());
        assert!(rec.requests().is_empty());
        dev.write(
            BASE,
            PM1_CNT,
            &((5u16 << 10) | PM1_CNT_SLP_EN).to_le_bytes(),
        );
        assert_eq!(rec.requests(), vec![ExitRequest::Poweroff]);
    }

    #[test]
    fn s5_by_bytes() {
        let rec = ExitRecorder::new();
        let mut dev = AcpiPm::new(rec.handler());
        let v = (5u16 << 10) | PM1_CNT_SLP_EN;
        dev.write(BASE, PM1_CNT, &[v as u8]);
        dev.write(BASE, PM1_CNT + 1, &[(v >> 8) as u8]);
        assert_eq!(rec.requests(), vec![ExitRequest::Poweroff]);
    }

    #[test]
    fn sci_en_always_set_and_slp_en_not_latched() {
        let mut dev = AcpiPm::new(ExitRecorder::new().handler());
        assert_eq!(read_u32(&mut dev, PM1_CNT) & 1, 1);
        dev.write(BASE, PM1_CNT, &[0, 0]);
        assert_eq!(read_u32(&mut dev, PM1_CNT), 1);
        dev.write(BASE, PM1_CNT, &(3u16 << 10).to_le_bytes());
        assert_eq!(read_u32(&mut dev, PM1_CNT), 1 | (3 << 10));
    }

    #[test]
    fn pm1_status_is_rw1c_and_enable_rw() {
        let mut dev = AcpiPm::new(ExitRecorder::new().handler());
        dev.pm1_sts = 0x8101;
        dev.write(BASE, PM1_STS, &0x0001u16.to_le_bytes());
        assert_eq!(read_u32(&mut dev, PM1_STS) & 0xffff, 0x8100);
        dev.write(BASE, PM1_EN, &0xffffu16.to_le_bytes());
        assert_eq!(read_u32(&mut dev, PM1_STS) >> 16, u32::from(PM1_EN_MASK));
    }

    #[test]
    fn timer_runs_at_acpi_rate() {
        let now = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let n = now.clone();
        let clock: NanoClock =
            Box::new(move || u128::from(n.load(std::sync::atomic::Ordering::SeqCst)));
        let mut dev = AcpiPm::with_clock(ExitRecorder::new().handler(), clock);
        assert_eq!(read_u32(&mut dev, PM_TMR), 0);
        // One second is 3579545 ticks; 20 ms is 71590.9.
        now.store(1_000_000_000, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(read_u32(&mut dev, PM_TMR), 3_579_545);
        now.store(1_020_000_000, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(read_u32(&mut dev, PM_TMR), 3_579_545 + 71_590);
        // Writes are ignored.
        dev.write(BASE, PM_TMR, &[0; 4]);
        assert_eq!(read_u32(&mut dev, PM_TMR), 3_579_545 + 71_590);
        // The counter is 32 bits wide and wraps (TMR_VAL_EXT).
        now.store(1_200_000_000_000, std::sync::atomic::Ordering::SeqCst);
        let ticks = 1_200u128 * 3_579_545;
        assert_eq!(u128::from(read_u32(&mut dev, PM_TMR)), ticks % (1 << 32));
    }

    #[test]
    fn host_clock_advances() {
        let mut dev = AcpiPm::new(ExitRecorder::new().handler());
        let t0 = read_u32(&mut dev, PM_TMR);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_ne!(read_u32(&mut dev, PM_TMR), t0);
    }

    #[test]
    fn odd_accesses_never_panic() {
        let mut dev = AcpiPm::new(ExitRecorder::new().handler());
        for off in 0..16 {
            for len in 1..=8 {
                let mut b = vec![0u8; len];
                dev.read(BASE, off, &mut b);
                dev.write(BASE, off, &b);
            }
        }
        dev.read(BASE, u64::MAX, &mut [0u8; 4]);
    }

    #[test]
    fn reset_register() {
        let rec = ExitRecorder::new();
        let mut dev = AcpiReset::new(rec.handler());
        dev.write(0, 0, &[0x02]);
        dev.write(0, 1, &[layout::ACPI_RESET_VALUE]);
        assert!(rec.requests().is_empty());
        dev.write(0, 0, &[layout::ACPI_RESET_VALUE]);
        assert_eq!(rec.requests(), vec![ExitRequest::Reset]);
    }
}
