//! CMOS RAM and the MC146818-compatible real-time clock at ports 0x70/0x71.
//!
//! Port [`layout::CMOS_PORT`] selects a register (bit 7 is the NMI mask, which
//! we ignore), port `CMOS_PORT + 1` reads or writes it. Register it on the PIO
//! bus at `CMOS_PORT`, 2 ports long.
//!
//! The time registers are computed from the host clock (UTC) plus an offset
//! that guest writes to the time registers adjust. The update-in-progress bit
//! is never set, so the guest never waits for an update cycle; reading a time
//! register costs one clock read.

use std::time::{SystemTime, UNIX_EPOCH};

use arch::layout;

use crate::bus::BusDevice;

/// Number of CMOS bytes (the index register has 7 bits).
pub const CMOS_SIZE: usize = 128;

// MC146818 register indexes (MC146818A data sheet, "Address map").
/// Seconds.
pub const RTC_SECONDS: u8 = 0x00;
/// Seconds alarm.
pub const RTC_SECONDS_ALARM: u8 = 0x01;
/// Minutes.
pub const RTC_MINUTES: u8 = 0x02;
/// Hours (bit 7 = PM in 12-hour mode).
pub const RTC_HOURS: u8 = 0x04;
/// Day of week, 1 = Sunday.
pub const RTC_DAY_OF_WEEK: u8 = 0x06;
/// Day of month.
pub const RTC_DAY_OF_MONTH: u8 = 0x07;
/// Month.
pub const RTC_MONTH: u8 = 0x08;
/// Year within the century.
pub const RTC_YEAR: u8 = 0x09;
/// Status register A: UIP (bit 7), divider and rate select.
pub const RTC_REG_A: u8 = 0x0a;
/// Status register B: SET, interrupt enables, DM (binary), 24/12.
pub const RTC_REG_B: u8 = 0x0b;
/// Status register C: interrupt flags, cleared by reading.
pub const RTC_REG_C: u8 = 0x0c;
/// Status register D: VRT (bit 7, valid RAM and time).
pub const RTC_REG_D: u8 = 0x0d;
/// Century (IBM PC/AT convention, named by the FADT CENTURY field).
pub const RTC_CENTURY: u8 = 0x32;

/// Register A: update in progress.
pub const REG_A_UIP: u8 = 1 << 7;
/// Register A power-on value: 32.768 kHz time base, 1024 Hz periodic rate.
pub const REG_A_DEFAULT: u8 = 0x26;
/// Register B: data mode binary (clear = BCD).
pub const REG_B_DM_BINARY: u8 = 1 << 2;
/// Register B: 24-hour mode.
pub const REG_B_24H: u8 = 1 << 1;
/// Register D: valid RAM and time.
pub const REG_D_VRT: u8 = 1 << 7;
/// Hours register bit 7 in 12-hour mode: PM.
const HOURS_PM: u8 = 1 << 7;

// Memory-size bytes (IBM PC/AT and the BIOS convention firmware reads).
/// Base memory in KiB, low/high byte.
const CMOS_BASE_MEM_LO: usize = 0x15;
/// Extended memory above 1 MiB in KiB (POST copy), low byte.
const CMOS_EXT_MEM_LO: usize = 0x17;
/// Extended memory above 1 MiB in KiB (actual), low byte.
const CMOS_EXT_MEM_ACTUAL_LO: usize = 0x30;
/// Memory between 16 MiB and 4 GiB in 64 KiB units, low byte.
const CMOS_MEM_16M_LO: usize = 0x34;
/// Memory above 4 GiB in 64 KiB units, three bytes.
const CMOS_MEM_4G_LO: usize = 0x5b;

/// A source of the current time in seconds since the Unix epoch (UTC).
pub type Clock = Box<dyn Fn() -> i64 + Send>;

/// The host's wall clock.
pub fn host_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The CMOS/RTC device.
pub struct Cmos {
    index: u8,
    nvram: [u8; CMOS_SIZE],
    /// Guest time minus clock time, in seconds.
    offset: i64,
    clock: Clock,
}

/// A broken-down UTC date and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DateTime {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0 = Sunday.
    weekday: u32,
}

impl Cmos {
    /// A CMOS reading the host clock. `ram_below_4g` and `ram_above_4g` are
    /// the guest RAM sizes in bytes below the 32-bit MMIO hole and from 4 GiB
    /// up; they fill the memory-size bytes firmware reads.
    pub fn new(ram_below_4g: u64, ram_above_4g: u64) -> Self {
        Self::with_clock(ram_below_4g, ram_above_4g, Box::new(host_clock))
    }

    /// Like [`Cmos::new`] with another clock (tests).
    pub fn with_clock(ram_below_4g: u64, ram_above_4g: u64, clock: Clock) -> Self {
        let mut nvram = [0u8; CMOS_SIZE];
        nvram[RTC_REG_A as usize] = REG_A_DEFAULT;
        nvram[RTC_REG_B as usize] = REG_B_24H;
        nvram[RTC_REG_D as usize] = REG_D_VRT;

        let put = |nvram: &mut [u8; CMOS_SIZE], at: usize, value: u64, bytes: usize| {
            for i in 0..bytes {
                if let Some(b) = nvram.get_mut(at + i) {
                    *b = (value >> (8 * i)) as u8;
                }
            }
        };
        put(&mut nvram, CMOS_BASE_MEM_LO, 640, 2);
        let ext_kib = (ram_below_4g.saturating_sub(layout::MIB) / layout::KIB).min(0xffff);
        put(&mut nvram, CMOS_EXT_MEM_LO, ext_kib, 2);
        put(&mut nvram, CMOS_EXT_MEM_ACTUAL_LO, ext_kib, 2);
        let above_16m = (ram_below_4g.saturating_sub(16 * layout::MIB) >> 16).min(0xffff);
        put(&mut nvram, CMOS_MEM_16M_LO, above_16m, 2);
        let above_4g = (ram_above_4g >> 16).min(0xff_ffff);
        put(&mut nvram, CMOS_MEM_4G_LO, above_4g, 3);

        Self {
            index: 0,
            nvram,
            offset: 0,
            clock,
        }
    }

    fn reg_b(&self) -> u8 {
        self.nvram[RTC_REG_B as usize]
    }

    fn now(&self) -> i64 {
        (self.clock)().saturating_add(self.offset)
    }

    /// Encodes a field per register B (BCD unless DM is set).
    fn encode(&self, v: u32) -> u8 {
        let v = (v % 100) as u8;
        if self.reg_b() & REG_B_DM_BINARY != 0 {
            v
        } else {
            ((v / 10) << 4) | (v % 10)
        }
    }

    /// Decodes a field per register B; None for a malformed BCD byte.
    fn decode(&self, v: u8) -> Option<u32> {
        if self.reg_b() & REG_B_DM_BINARY != 0 {
            return Some(u32::from(v));
        }
        let (hi, lo) = (v >> 4, v & 0xf);
        (hi <= 9 && lo <= 9).then_some(u32::from(hi * 10 + lo))
    }

    fn encode_hours(&self, hour: u32) -> u8 {
        if self.reg_b() & REG_B_24H != 0 {
            return self.encode(hour);
        }
        let h12 = match hour % 12 {
            0 => 12,
            h => h,
        };
        let pm = if hour >= 12 { HOURS_PM } else { 0 };
        self.encode(h12) | pm
    }

    fn decode_hours(&self, v: u8) -> Option<u32> {
        if self.reg_b() & REG_B_24H != 0 {
            return self.decode(v);
        }
        let h12 = self.decode(v & !HOURS_PM)?;
        if !(1..=12).contains(&h12) {
            return None;
        }
        Some(h12 % 12 + if v & HOURS_PM != 0 { 12 } else { 0 })
    }

    fn read_register(&mut self, index: u8) -> u8 {
        let t = || DateTime::from_unix(self.now());
        match index {
            RTC_SECONDS => self.encode(t().second),
            RTC_MINUTES => self.encode(t().minute),
            RTC_HOURS => self.encode_hours(t().hour),
            RTC_DAY_OF_WEEK => self.encode(t().weekday + 1),
            RTC_DAY_OF_MONTH => self.encode(t().day),
            RTC_MONTH => self.encode(t().month),
            RTC_YEAR => self.encode(t().year.rem_euclid(100) as u32),
            RTC_CENTURY => self.encode(t().year.div_euclid(100).rem_euclid(100) as u32),
            RTC_REG_A => self.nvram[RTC_REG_A as usize] & !REG_A_UIP,
            RTC_REG_C => {
                // Interrupt flags; reading clears them. We raise none.
                let v = self.nvram[RTC_REG_C as usize];
                self.nvram[RTC_REG_C as usize] = 0;
                v
            }
            RTC_REG_D => REG_D_VRT,
            i => self.nvram.get(usize::from(i)).copied().unwrap_or(0xff),
        }
    }

    /// Replaces one field of the guest time and recomputes the offset.
    fn set_time_field(&mut self, index: u8, value: u8) {
        let mut t = DateTime::from_unix(self.now());
        let ok = match index {
            RTC_SECONDS => self.decode(value).filter(|&v| v < 60).map(|v| t.second = v),
            RTC_MINUTES => self.decode(value).filter(|&v| v < 60).map(|v| t.minute = v),
            RTC_HOURS => self
                .decode_hours(value)
                .filter(|&v| v < 24)
                .map(|v| t.hour = v),
            RTC_DAY_OF_MONTH => self
                .decode(value)
                .filter(|v| (1..=31).contains(v))
                .map(|v| t.day = v),
            RTC_MONTH => self
                .decode(value)
                .filter(|v| (1..=12).contains(v))
                .map(|v| t.month = v),
            RTC_YEAR => self
                .decode(value)
                .filter(|&v| v < 100)
                .map(|v| t.year = t.year.div_euclid(100) * 100 + i64::from(v)),
            RTC_CENTURY => self
                .decode(value)
                .filter(|&v| v < 100)
                .map(|v| t.year = i64::from(v) * 100 + t.year.rem_euclid(100)),
            _ => None,
        };
        if ok.is_some() {
            self.offset = t.to_unix().saturating_sub((self.clock)());
        }
    }

    fn write_register(&mut self, index: u8, value: u8) {
        match index {
            RTC_SECONDS | RTC_MINUTES | RTC_HOURS | RTC_DAY_OF_MONTH | RTC_MONTH | RTC_YEAR
            | RTC_CENTURY => self.set_time_field(index, value),
            // Day of week is derived from the date.
            RTC_DAY_OF_WEEK => {}
            RTC_REG_A => self.nvram[RTC_REG_A as usize] = value & !REG_A_UIP,
            // C and D are read-only.
            RTC_REG_C | RTC_REG_D => {}
            i => {
                if let Some(b) = self.nvram.get_mut(usize::from(i)) {
                    *b = value;
                }
            }
        }
    }
}

impl BusDevice for Cmos {
    fn read(&mut self, _base: u64, offset: u64, data: &mut [u8]) {
        for (i, b) in data.iter_mut().enumerate() {
            *b = match offset.checked_add(i as u64) {
                Some(0) => self.index,
                Some(1) => self.read_register(self.index),
                _ => 0xff,
            };
        }
    }

    fn write(&mut self, _base: u64, offset: u64, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            match offset.checked_add(i as u64) {
                // Bit 7 is the NMI mask; the index is 7 bits.
                Some(0) => self.index = b & 0x7f,
                Some(1) => self.write_register(self.index, b),
                _ => {}
            }
        }
    }
}

impl DateTime {
    /// Converts seconds since the epoch (proleptic Gregorian calendar).
    fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Self {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u32,
        }
    }

    fn to_unix(self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
            .saturating_mul(86_400)
            .saturating_add(i64::from(self.hour * 3600 + self.minute * 60 + self.second))
    }
}

/// Days since 1970-01-01 to (year, month, day). Counts in 400-year eras
/// starting on March 1st so that the leap day is the last day of a year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    const DAYS_PER_ERA: i64 = 146_097;
    // 1970-01-01 is day 719468 counted from 0000-03-01.
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(DAYS_PER_ERA);
    let day_of_era = z.rem_euclid(DAYS_PER_ERA);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Month counted from March = 0.
    let march_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * march_month + 2) / 5 + 1) as u32;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let march_month = i64::from((month + 9) % 12);
    let day_of_year = (153 * march_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    const BASE: u64 = layout::CMOS_PORT as u64;
    // 2024-02-29 23:59:58 UTC, a Thursday.
    const T0: i64 = 1_709_251_198;

    fn cmos_at(t: Arc<AtomicI64>) -> Cmos {
        Cmos::with_clock(
            3 * layout::GIB,
            layout::GIB,
            Box::new(move || t.load(Ordering::Relaxed)),
        )
    }

    fn read(c: &mut Cmos, index: u8) -> u8 {
        c.write(BASE, 0, &[index]);
        let mut b = [0u8];
        c.read(BASE, 1, &mut b);
        b[0]
    }

    fn write(c: &mut Cmos, index: u8, v: u8) {
        c.write(BASE, 0, &[index]);
        c.write(BASE, 1, &[v]);
    }

    #[test]
    fn calendar_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for d in [-800_000i64, -1, 0, 59, 11_016, 19_782, 30_000, 2_000_000] {
            let (y, m, day) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, day), d);
        }
        let t = DateTime::from_unix(T0);
        assert_eq!((t.year, t.month, t.day), (2024, 2, 29));
        assert_eq!((t.hour, t.minute, t.second, t.weekday), (23, 59, 58, 4));
        assert_eq!(t.to_unix(), T0);
    }

    #[test]
    fn bcd_time_by_default() {
        let clock = Arc::new(AtomicI64::new(T0));
        let mut c = cmos_at(clock.clone());
        assert_eq!(read(&mut c, RTC_SECONDS), 0x58);
        assert_eq!(read(&mut c, RTC_MINUTES), 0x59);
        assert_eq!(read(&mut c, RTC_HOURS), 0x23);
        assert_eq!(read(&mut c, RTC_DAY_OF_WEEK), 0x05);
        assert_eq!(read(&mut c, RTC_DAY_OF_MONTH), 0x29);
        assert_eq!(read(&mut c, RTC_MONTH), 0x02);
        assert_eq!(read(&mut c, RTC_YEAR), 0x24);
        assert_eq!(read(&mut c, RTC_CENTURY), 0x20);
        clock.store(T0 + 2, Ordering::Relaxed);
        assert_eq!(read(&mut c, RTC_DAY_OF_MONTH), 0x01);
        assert_eq!(read(&mut c, RTC_MONTH), 0x03);
    }

    #[test]
    fn binary_and_12_hour_modes() {
        let mut c = cmos_at(Arc::new(AtomicI64::new(T0)));
        write(&mut c, RTC_REG_B, REG_B_DM_BINARY | REG_B_24H);
        assert_eq!(read(&mut c, RTC_SECONDS), 58);
        assert_eq!(read(&mut c, RTC_HOURS), 23);
        write(&mut c, RTC_REG_B, 0);
        assert_eq!(read(&mut c, RTC_HOURS), 0x11 | HOURS_PM);
    }

    #[test]
    fn status_registers() {
        let mut c = cmos_at(Arc::new(AtomicI64::new(T0)));
        for _ in 0..1000 {
            assert_eq!(read(&mut c, RTC_REG_A) & REG_A_UIP, 0);
        }
        assert_eq!(read(&mut c, RTC_REG_A), REG_A_DEFAULT);
        write(&mut c, RTC_REG_A, 0xff);
        assert_eq!(read(&mut c, RTC_REG_A), 0x7f);
        assert_eq!(read(&mut c, RTC_REG_B), REG_B_24H);
        assert_eq!(read(&mut c, RTC_REG_C), 0);
        write(&mut c, RTC_REG_D, 0);
        assert_eq!(read(&mut c, RTC_REG_D), REG_D_VRT);
    }

    #[test]
    fn time_writes_store_an_offset() {
        let clock = Arc::new(AtomicI64::new(T0));
        let mut c = cmos_at(clock.clone());
        write(&mut c, RTC_YEAR, 0x25);
        write(&mut c, RTC_MONTH, 0x03);
        write(&mut c, RTC_DAY_OF_MONTH, 0x01);
        write(&mut c, RTC_HOURS, 0x10);
        write(&mut c, RTC_MINUTES, 0x1a); // not BCD: ignored
        assert_eq!(read(&mut c, RTC_YEAR), 0x25);
        assert_eq!(read(&mut c, RTC_MONTH), 0x03);
        assert_eq!(read(&mut c, RTC_DAY_OF_MONTH), 0x01);
        assert_eq!(read(&mut c, RTC_HOURS), 0x10);
        assert_eq!(read(&mut c, RTC_MINUTES), 0x59);
        // The guest clock keeps running with the host's.
        clock.store(T0 + 2, Ordering::Relaxed);
        assert_eq!(read(&mut c, RTC_SECONDS), 0x00);
        assert_eq!(read(&mut c, RTC_HOURS), 0x11);
    }

    #[test]
    fn index_and_nvram() {
        let mut c = cmos_at(Arc::new(AtomicI64::new(T0)));
        // Bit 7 of the index (NMI disable) is ignored.
        c.write(BASE, 0, &[0x80 | 0x40]);
        c.write(BASE, 1, &[0xab]);
        assert_eq!(read(&mut c, 0x40), 0xab);
        let mut b = [0u8];
        c.read(BASE, 0, &mut b);
        assert_eq!(b[0], 0x40);
        // Odd sizes and offsets.
        let mut w = [0u8; 4];
        c.read(BASE, 0, &mut w);
        assert_eq!(w, [0x40, 0xab, 0xff, 0xff]);
        c.write(BASE, 5, &[1, 2]);
        c.read(BASE, u64::MAX, &mut w);
    }

    #[test]
    fn memory_size_bytes() {
        let mut c = cmos_at(Arc::new(AtomicI64::new(T0)));
        let lohi = |c: &mut Cmos, i: u8| u16::from_le_bytes([read(c, i), read(c, i + 1)]);
        assert_eq!(lohi(&mut c, 0x30), 0xffff);
        assert_eq!(
            lohi(&mut c, 0x34),
            ((3 * layout::GIB - 16 * layout::MIB) >> 16) as u16
        );
        let above = u32::from_le_bytes([
            read(&mut c, 0x5b),
            read(&mut c, 0x5c),
            read(&mut c, 0x5d),
            0,
        ]);
        assert_eq!(u64::from(above), layout::GIB >> 16);
    }
}
