//! MSI-X: capability, table and Pending Bit Array (PCIe 6.0 7.7.2, 6.1.4.2).
//!
//! [`MsixConfig`] holds the table and PBA that live in a memory BAR, and the
//! enable and function-mask state of the capability's Message Control (which
//! lives in configuration space: build the capability with
//! [`MsixConfig::capability`] and report guest writes of Message Control with
//! [`MsixConfig::set_control`]; [`super::PciFunction`] does both).
//!
//! Routes go to the device's [`MsiGroup`]: whenever an unmasked entry is
//! written while MSI-X is enabled, and for every unmasked entry when MSI-X
//! gets enabled or the function unmasked. [`MsixConfig::trigger`] delivers a
//! vector when MSI-X is enabled and neither the function nor the vector is
//! masked; otherwise it sets the vector's pending bit, and unmasking delivers
//! the pending message and clears the bit.

use std::sync::Arc;

use super::config_error::ConfigError;
use super::regblock::RegisterBlock;
use crate::interrupt::{MsiGroup, MsiMessage};

/// Size of the MSI-X capability.
pub const MSIX_CAP_SIZE: usize = 12;
/// Message Control offset (PCIe 6.0 7.7.2.2).
pub const MSIX_MESSAGE_CONTROL: usize = 0x02;
/// Table Offset/Table BIR offset (PCIe 6.0 7.7.2.3).
pub const MSIX_TABLE_OFFSET: usize = 0x04;
/// PBA Offset/PBA BIR offset (PCIe 6.0 7.7.2.4).
pub const MSIX_PBA_OFFSET: usize = 0x08;
/// Message Control: Table Size field (N - 1, bits 10:0).
pub const MSIX_CONTROL_TABLE_SIZE: u16 = 0x7ff;
/// Message Control: Function Mask (bit 14).
pub const MSIX_CONTROL_FUNCTION_MASK: u16 = 1 << 14;
/// Message Control: MSI-X Enable (bit 15).
pub const MSIX_CONTROL_ENABLE: u16 = 1 << 15;
/// Most vectors a function can have.
pub const MSIX_MAX_VECTORS: u16 = 2048;
/// Size of one table entry (PCIe 6.0 7.7.2.5..8).
pub const MSIX_ENTRY_SIZE: usize = 16;
/// Entry: Message Address (low dword, bits 1:0 reserved).
pub const MSIX_ENTRY_ADDRESS: usize = 0x0;
/// Entry: Message Upper Address.
pub const MSIX_ENTRY_UPPER_ADDRESS: usize = 0x4;
/// Entry: Message Data.
pub const MSIX_ENTRY_DATA: usize = 0x8;
/// Entry: Vector Control.
pub const MSIX_ENTRY_VECTOR_CONTROL: usize = 0xc;
/// Vector Control: Mask Bit (bit 0).
pub const MSIX_VECTOR_MASKED: u32 = 1 << 0;

/// Where a structure lives: BAR index and offset in the BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarLocation {
    /// BAR Indicator Register (0..=5).
    pub bar: u8,
    /// Offset in the BAR (8-byte aligned).
    pub offset: u32,
}

/// MSI-X state of one function.
pub struct MsixConfig {
    vectors: u16,
    table_at: BarLocation,
    pba_at: BarLocation,
    table: RegisterBlock,
    pba: Vec<u64>,
    enabled: bool,
    function_masked: bool,
    group: Arc<dyn MsiGroup>,
}

impl MsixConfig {
    /// `vectors` vectors (1..=2048) with the table and PBA at these places,
    /// delivering through `group` (which needs at least `vectors` vectors).
    pub fn new(
        vectors: u16,
        table_at: BarLocation,
        pba_at: BarLocation,
        group: Arc<dyn MsiGroup>,
    ) -> Result<Self, ConfigError> {
        if vectors == 0 || vectors > MSIX_MAX_VECTORS || group.len() < usize::from(vectors) {
            return Err(ConfigError::InvalidRegion("MSI-X vector count"));
        }
        for at in [table_at, pba_at] {
            if at.bar > 5 || at.offset % 8 != 0 {
                return Err(ConfigError::InvalidRegion("MSI-X BIR or offset"));
            }
        }
        let n = usize::from(vectors);
        let mut table = RegisterBlock::new(n * MSIX_ENTRY_SIZE);
        for i in 0..n {
            let e = i * MSIX_ENTRY_SIZE;
            table.set_wmask_u32(e + MSIX_ENTRY_ADDRESS, !0x3);
            table.set_wmask_u32(e + MSIX_ENTRY_UPPER_ADDRESS, u32::MAX);
            table.set_wmask_u32(e + MSIX_ENTRY_DATA, u32::MAX);
            table.set_wmask_u32(e + MSIX_ENTRY_VECTOR_CONTROL, MSIX_VECTOR_MASKED);
            table.set_u32(e + MSIX_ENTRY_VECTOR_CONTROL, MSIX_VECTOR_MASKED);
        }
        let cfg = Self {
            vectors,
            table_at,
            pba_at,
            table,
            pba: vec![0; n.div_ceil(64)],
            enabled: false,
            function_masked: false,
            group,
        };
        if table_at.bar == pba_at.bar {
            let t = u64::from(table_at.offset)..u64::from(table_at.offset) + cfg.table_size();
            let p = u64::from(pba_at.offset)..u64::from(pba_at.offset) + cfg.pba_size();
            if t.start < p.end && p.start < t.end {
                return Err(ConfigError::InvalidRegion("MSI-X table overlaps PBA"));
            }
        }
        Ok(cfg)
    }

    /// The capability (ID and next pointer are filled in when added).
    pub fn capability(&self) -> RegisterBlock {
        let mut b = RegisterBlock::new(MSIX_CAP_SIZE);
        b.set_u16(
            MSIX_MESSAGE_CONTROL,
            (self.vectors - 1) & MSIX_CONTROL_TABLE_SIZE,
        );
        b.set_wmask_u16(
            MSIX_MESSAGE_CONTROL,
            MSIX_CONTROL_ENABLE | MSIX_CONTROL_FUNCTION_MASK,
        );
        b.set_u32(
            MSIX_TABLE_OFFSET,
            self.table_at.offset | u32::from(self.table_at.bar),
        );
        b.set_u32(
            MSIX_PBA_OFFSET,
            self.pba_at.offset | u32::from(self.pba_at.bar),
        );
        b
    }

    /// Number of vectors.
    pub fn vectors(&self) -> u16 {
        self.vectors
    }

    /// Where the table is.
    pub fn table_location(&self) -> BarLocation {
        self.table_at
    }

    /// Table size in bytes.
    pub fn table_size(&self) -> u64 {
        u64::from(self.vectors) * MSIX_ENTRY_SIZE as u64
    }

    /// Where the PBA is.
    pub fn pba_location(&self) -> BarLocation {
        self.pba_at
    }

    /// PBA size in bytes (whole qwords).
    pub fn pba_size(&self) -> u64 {
        self.pba.len() as u64 * 8
    }

    /// MSI-X Enable as the guest last wrote it.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Function Mask as the guest last wrote it.
    pub fn is_function_masked(&self) -> bool {
        self.function_masked
    }

    /// The entry's Mask Bit (true for vectors out of range).
    pub fn is_masked(&self, vector: u16) -> bool {
        self.entry_masked(usize::from(vector))
    }

    /// The vector's pending bit.
    pub fn is_pending(&self, vector: u16) -> bool {
        let v = usize::from(vector);
        self.pba
            .get(v / 64)
            .is_some_and(|q| q & (1u64 << (v % 64)) != 0)
    }

    /// The message the entry holds, if the vector exists.
    pub fn message(&self, vector: u16) -> Option<MsiMessage> {
        (vector < self.vectors).then(|| self.entry_message(usize::from(vector)))
    }

    fn entry_masked(&self, i: usize) -> bool {
        i >= usize::from(self.vectors)
            || self
                .table
                .get_u32(i * MSIX_ENTRY_SIZE + MSIX_ENTRY_VECTOR_CONTROL)
                & MSIX_VECTOR_MASKED
                != 0
    }

    fn entry_message(&self, i: usize) -> MsiMessage {
        let e = i * MSIX_ENTRY_SIZE;
        MsiMessage {
            address: self.table.get_u64(e + MSIX_ENTRY_ADDRESS),
            data: self.table.get_u32(e + MSIX_ENTRY_DATA),
        }
    }

    /// Enabled and not function-masked: unmasked vectors deliver.
    fn active(&self) -> bool {
        self.enabled && !self.function_masked
    }

    fn set_pending(&mut self, i: usize, pending: bool) {
        if let Some(q) = self.pba.get_mut(i / 64) {
            let bit = 1u64 << (i % 64);
            if pending {
                *q |= bit;
            } else {
                *q &= !bit;
            }
        }
    }

    fn push_route(&self, i: usize) {
        if let Err(e) = self.group.set_route(i, self.entry_message(i)) {
            crate::warn_limited!("msix: route of vector {i}: {e}");
        }
    }

    fn deliver(&self, i: usize) {
        if let Err(e) = self.group.trigger(i) {
            crate::warn_limited!("msix: delivery of vector {i}: {e}");
        }
    }

    /// Delivers and clears the pending bit of an unmasked vector when active.
    fn flush_pending(&mut self, i: usize) {
        if self.active() && !self.entry_masked(i) && self.is_pending(i as u16) {
            self.set_pending(i, false);
            self.deliver(i);
        }
    }

    /// Applies a guest write of Message Control (the value after the write).
    pub fn set_control(&mut self, control: u16) {
        let enabled = control & MSIX_CONTROL_ENABLE != 0;
        let masked = control & MSIX_CONTROL_FUNCTION_MASK != 0;
        if enabled == self.enabled && masked == self.function_masked {
            return;
        }
        self.enabled = enabled;
        self.function_masked = masked;
        if !enabled {
            return;
        }
        for i in 0..usize::from(self.vectors) {
            if !self.entry_masked(i) {
                self.push_route(i);
                self.flush_pending(i);
            }
        }
    }

    /// Guest read of the table at `offset` from its start.
    pub fn read_table(&self, offset: u64, data: &mut [u8]) {
        match usize::try_from(offset) {
            Ok(o) => self.table.read(o, data),
            Err(_) => data.fill(0xff),
        }
    }

    /// Guest write of the table at `offset` from its start.
    pub fn write_table(&mut self, offset: u64, data: &[u8]) {
        let Ok(start) = usize::try_from(offset) else {
            return;
        };
        if data.is_empty() || start >= self.table.len() {
            return;
        }
        let first = start / MSIX_ENTRY_SIZE;
        let last = start.saturating_add(data.len() - 1) / MSIX_ENTRY_SIZE;
        let last = last.min(usize::from(self.vectors) - 1);
        let before: Vec<(bool, MsiMessage)> = (first..=last)
            .map(|i| (self.entry_masked(i), self.entry_message(i)))
            .collect();
        self.table.write(start, data);
        for (i, (was_masked, old)) in (first..=last).zip(before) {
            if self.entry_masked(i) {
                continue;
            }
            if self.enabled && (was_masked || old != self.entry_message(i)) {
                self.push_route(i);
            }
            if was_masked {
                self.flush_pending(i);
            }
        }
    }

    /// Guest read of the PBA at `offset` from its start.
    pub fn read_pba(&self, offset: u64, data: &mut [u8]) {
        for (i, b) in data.iter_mut().enumerate() {
            *b = offset
                .checked_add(i as u64)
                .and_then(|o| {
                    let q = self.pba.get(usize::try_from(o / 8).ok()?)?;
                    Some((q >> (8 * (o % 8))) as u8)
                })
                .unwrap_or(0xff);
        }
    }

    /// Guest write of the PBA: read-only, ignored.
    pub fn write_pba(&mut self, _offset: u64, _data: &[u8]) {}

    /// The device signals `vector`: delivered if possible, else made pending.
    /// Vectors out of range are dropped with a log line.
    pub fn trigger(&mut self, vector: u16) {
        let i = usize::from(vector);
        if vector >= self.vectors {
            crate::warn_limited!("msix: trigger of vector {vector} of {}", self.vectors);
            return;
        }
        if self.active() && !self.entry_masked(i) {
            self.deliver(i);
        } else {
            self.set_pending(i, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::RecordingMsiGroup;

    fn msix(n: u16) -> (MsixConfig, Arc<RecordingMsiGroup>) {
        let g = Arc::new(RecordingMsiGroup::new(usize::from(n)));
        let m = MsixConfig::new(
            n,
            BarLocation { bar: 0, offset: 0 },
            BarLocation {
                bar: 0,
                offset: 0x800,
            },
            g.clone(),
        )
        .unwrap();
        (m, g)
    }

    fn program(m: &mut MsixConfig, v: u64, addr: u64, data: u32) {
        let e = v * 16;
        m.write_table(e, &(addr as u32).to_le_bytes());
        m.write_table(e + 4, &((addr >> 32) as u32).to_le_bytes());
        m.write_table(e + 8, &data.to_le_bytes());
    }

    fn unmask(m: &mut MsixConfig, v: u64) {
        m.write_table(v * 16 + 12, &0u32.to_le_bytes());
    }

    #[test]
    fn capability_layout() {
        let g = Arc::new(RecordingMsiGroup::new(8));
        let at = |bar, offset| BarLocation { bar, offset };
        let m = MsixConfig::new(8, at(2, 0x2000), at(2, 0x3000), g.clone()).unwrap();
        let c = m.capability();
        assert_eq!(c.get_u16(2), 7);
        assert_eq!(c.get_u32(4), 0x2002);
        assert_eq!(c.get_u32(8), 0x3002);
        assert_eq!(c.wmask(2, 2), 0xc000);
        assert_eq!(m.table_size(), 128);
        assert_eq!(m.pba_size(), 8);
        assert!(MsixConfig::new(8, at(2, 0x2000), at(2, 0x2040), g.clone()).is_err());
        assert!(MsixConfig::new(8, at(6, 0), at(2, 0x1000), g.clone()).is_err());
        assert!(MsixConfig::new(8, at(0, 4), at(2, 0x1000), g.clone()).is_err());
        assert!(MsixConfig::new(9, at(0, 0), at(2, 0x1000), g.clone()).is_err());
        assert!(MsixConfig::new(0, at(0, 0), at(2, 0x1000), g).is_err());
    }

    #[test]
    fn table_writes_push_routes() {
        let (mut m, g) = msix(4);
        m.set_control(MSIX_CONTROL_ENABLE);
        program(&mut m, 1, 0xfee0_1000, 0x41);
        // Masked entry: nothing routed yet.
        assert_eq!(m.message(1).unwrap().address, 0xfee0_1000);
        unmask(&mut m, 1);
        m.trigger(1);
        assert_eq!(
            g.fired(),
            vec![(
                1,
                MsiMessage {
                    address: 0xfee0_1000,
                    data: 0x41
                }
            )]
        );
        // Writing an unmasked entry re-routes it (one qword write).
        m.write_table(16 + 8, &0x0000_0000_0000_0042u64.to_le_bytes());
        g.clear();
        m.trigger(1);
        assert_eq!(g.fired()[0].1.data, 0x42);
        // Reads see the table; the reserved address bits are read-only.
        m.write_table(16, &0xfee0_1003u32.to_le_bytes());
        let mut b = [0u8; 4];
        m.read_table(16, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0xfee0_1000);
        m.read_table(12, &mut b);
        assert_eq!(u32::from_le_bytes(b), 1, "vector 0 masked at reset");
    }

    #[test]
    fn masked_trigger_pends_then_unmask_delivers() {
        let (mut m, g) = msix(4);
        m.set_control(MSIX_CONTROL_ENABLE);
        program(&mut m, 2, 0xfee0_0000, 7);
        m.trigger(2);
        assert!(g.fired().is_empty());
        assert!(m.is_pending(2));
        let mut pba = [0u8; 8];
        m.read_pba(0, &mut pba);
        assert_eq!(u64::from_le_bytes(pba), 1 << 2);
        m.write_pba(0, &[0; 8]);
        assert!(m.is_pending(2));
        unmask(&mut m, 2);
        assert_eq!(
            g.fired(),
            vec![(
                2,
                MsiMessage {
                    address: 0xfee0_0000,
                    data: 7
                }
            )]
        );
        assert!(!m.is_pending(2));
    }

    #[test]
    fn function_mask_and_enable() {
        let (mut m, g) = msix(2);
        program(&mut m, 0, 0xfee0_0000, 1);
        unmask(&mut m, 0);
        // Disabled: pending.
        m.trigger(0);
        assert!(g.fired().is_empty());
        assert!(m.is_pending(0));
        // Enable with the function masked: still pending.
        m.set_control(MSIX_CONTROL_ENABLE | MSIX_CONTROL_FUNCTION_MASK);
        assert!(g.fired().is_empty());
        m.trigger(0);
        assert!(g.fired().is_empty());
        // Unmask the function: the pending vector is delivered once.
        m.set_control(MSIX_CONTROL_ENABLE);
        assert_eq!(g.fired().len(), 1);
        assert!(!m.is_pending(0));
        m.trigger(0);
        assert_eq!(g.fired().len(), 2);
    }

    #[test]
    fn guest_offsets_are_checked() {
        let (mut m, g) = msix(2);
        m.write_table(u64::MAX, &[0xff; 8]);
        m.write_table(0x1f, &[0, 0, 0, 0]);
        m.write_table(0x20, &[0; 4]);
        m.write_table(0, &[]);
        let mut b = [0u8; 8];
        m.read_table(0x1c, &mut b);
        assert_eq!(&b[4..], &[0xff; 4]);
        m.read_table(u64::MAX, &mut b);
        assert_eq!(b, [0xff; 8]);
        m.read_pba(u64::MAX - 2, &mut b);
        assert_eq!(b, [0xff; 8]);
        m.read_pba(4, &mut b);
        assert_eq!(&b[4..], &[0xff; 4]);
        m.trigger(2);
        m.trigger(u16::MAX);
        assert!(g.fired().is_empty());
        assert!(!m.is_pending(2));
    }
}
