//! Get Partition Info and Set Partition Info (CXL 3.1 8.2.9.9.2.1,
//! 8.2.9.9.2.2). The layout is [`crate::cxl::memdev::partition`].

use super::payload::{Decode, Encode, Input, NoInput, Output};
use super::RetCode;
use crate::cxl::memdev::{Effects, Memdev, CAPACITY_MULTIPLIER};

/// Size of the Get Partition Info output payload.
pub const GET_PARTITION_INFO_SIZE: usize = 0x20;

// CXL 3.1 8.2.9.9.2.2 Set Partition Info (Flags)
/// Set Partition Info Flags: Immediate.
pub const SET_PARTITION_FLAG_IMMEDIATE: u8 = 1 << 0;

// CXL 3.1 8.2.9.9.2.1 Get Partition Info (Table 8-130 Get Partition Info Output Payload)
/// Get Partition Info output (`struct cxl_mbox_get_partition_info`), in
/// 256 MiB units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetPartitionInfoOut {
    /// Active Volatile Capacity.
    pub active_volatile_cap: u64,
    /// Active Persistent Capacity.
    pub active_persistent_cap: u64,
    /// Next Volatile Capacity (0 when no change is pending).
    pub next_volatile_cap: u64,
    /// Next Persistent Capacity (0 when no change is pending).
    pub next_persistent_cap: u64,
}

impl Encode for GetPartitionInfoOut {
    fn encode(&self) -> Vec<u8> {
        let mut o = Output::zeroed(GET_PARTITION_INFO_SIZE);
        o.put_u64(0x00, self.active_volatile_cap);
        o.put_u64(0x08, self.active_persistent_cap);
        o.put_u64(0x10, self.next_volatile_cap);
        o.put_u64(0x18, self.next_persistent_cap);
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.9.2.2 Set Partition Info (Table 8-131 Set Partition Info Input Payload)
/// Set Partition Info input (`struct cxl_mbox_set_partition_info`). The
/// spec's payload is 9 bytes; Linux lets user space send 0Ah
/// (`CXL_CMD(SET_PARTITION_INFO, 0x0a, ...)`), so both lengths decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetPartitionInfoIn {
    /// Volatile Capacity, in 256 MiB units of partitionable capacity.
    pub volatile_capacity: u64,
    /// Flags ([`SET_PARTITION_FLAG_IMMEDIATE`]).
    pub flags: u8,
}

impl Decode<'_> for SetPartitionInfoIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        if input.len() != 9 && input.len() != 10 {
            return Err(RetCode::InvalidPayloadLength);
        }
        Ok(Self {
            volatile_capacity: input.u64(0).ok_or(RetCode::InvalidPayloadLength)?,
            flags: input.u8(8).ok_or(RetCode::InvalidPayloadLength)?,
        })
    }
}

impl Encode for SetPartitionInfoIn {
    fn encode(&self) -> Vec<u8> {
        let mut p = self.volatile_capacity.to_le_bytes().to_vec();
        p.push(self.flags);
        p
    }
}

// CXL 3.1 8.2.9.9.2.1 Get Partition Info (Opcode 4100h)
/// Get Partition Info: no input; active and next capacities.
pub fn get_partition_info(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    let p = memdev.partition();
    let (next_volatile, next_persistent) = p.next().unwrap_or((0, 0));
    Ok(GetPartitionInfoOut {
        active_volatile_cap: p.active_volatile_bytes() / CAPACITY_MULTIPLIER,
        active_persistent_cap: p.active_persistent_bytes() / CAPACITY_MULTIPLIER,
        next_volatile_cap: next_volatile / CAPACITY_MULTIPLIER,
        next_persistent_cap: next_persistent / CAPACITY_MULTIPLIER,
    }
    .encode())
}

// CXL 3.1 8.2.9.9.2.2 Set Partition Info (Opcode 4101h)
/// Set Partition Info: no output. Unsupported when nothing is
/// partitionable, Invalid Input for a capacity not aligned or too large.
pub fn set_partition_info(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = SetPartitionInfoIn::decode(input)?;
    if !memdev.partition().is_partitionable() {
        return Err(RetCode::Unsupported);
    }
    let bytes = req
        .volatile_capacity
        .checked_mul(CAPACITY_MULTIPLIER)
        .ok_or(RetCode::InvalidInput)?;
    memdev.set_partition(bytes, req.flags & SET_PARTITION_FLAG_IMMEDIATE != 0)?;
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cxl::mailbox::testing::{test_memdev, TestMemdev};
    use crate::cxl::mailbox::Opcode;
    use crate::cxl::memdev::tests::{dc_only_config, test_config};
    use crate::cxl::memdev::MemdevConfig;

    const GET: u16 = Opcode::GetPartitionInfo as u16;
    const SET: u16 = Opcode::SetPartitionInfo as u16;
    const GIB: u64 = 1 << 30;

    fn get(m: &mut TestMemdev) -> [u64; 4] {
        let (rc, out) = m.execute(GET, &[]);
        assert_eq!(rc, RetCode::Success);
        assert_eq!(out.len(), 0x20);
        let mut v = [0u64; 4];
        for (i, c) in out.chunks(8).enumerate() {
            v[i] = u64::from_le_bytes(c.try_into().unwrap());
        }
        v
    }

    fn set_input(units: u64, flags: u8) -> Vec<u8> {
        let mut p = SetPartitionInfoIn {
            volatile_capacity: units,
            flags,
        }
        .encode();
        p.push(0);
        p
    }

    #[test]
    fn get_partition_info_initial() {
        let mut m = test_memdev();
        // Volatile 4 + 2 of partitionable; persistent 2 + 2.
        assert_eq!(get(&mut m), [6, 4, 0, 0]);
        let p = m.partition();
        assert_eq!(p.volatile_dpa_range(), 0..(3 * GIB / 2));
        assert_eq!(p.persistent_dpa_range(), (3 * GIB / 2)..(5 * GIB / 2));
    }

    #[test]
    fn set_partition_next_then_cold_reset() {
        let mut m = test_memdev();
        assert_eq!(m.execute(SET, &set_input(3, 0)), (RetCode::Success, vec![]));
        assert_eq!(get(&mut m), [6, 4, 7, 3]);
        m.cold_reset();
        assert_eq!(get(&mut m), [7, 3, 0, 0]);
    }

    #[test]
    fn set_partition_immediate() {
        let mut m = test_memdev();
        m.execute(SET, &set_input(1, 0));
        // Nine-byte form, immediate: takes effect and cancels the pending.
        let mut p = set_input(4, SET_PARTITION_FLAG_IMMEDIATE);
        p.pop();
        assert_eq!(m.execute(SET, &p), (RetCode::Success, vec![]));
        assert_eq!(get(&mut m), [8, 2, 0, 0]);
        assert_eq!(m.execute(SET, &set_input(0, 1)).0, RetCode::Success);
        assert_eq!(get(&mut m), [4, 6, 0, 0]);
    }

    #[test]
    fn set_partition_invalid() {
        let mut m = test_memdev();
        assert_eq!(m.execute(SET, &set_input(5, 0)).0, RetCode::InvalidInput);
        assert_eq!(
            m.execute(SET, &set_input(u64::MAX, 0)).0,
            RetCode::InvalidInput
        );
        assert_eq!(m.execute(SET, &[0; 8]).0, RetCode::InvalidPayloadLength);
        assert_eq!(m.execute(SET, &[0; 11]).0, RetCode::InvalidPayloadLength);
        assert_eq!(m.execute(SET, &[]).0, RetCode::InvalidPayloadLength);
        assert_eq!(get(&mut m), [6, 4, 0, 0]);
        assert_eq!(m.execute(GET, &[0]).0, RetCode::InvalidPayloadLength);
    }

    #[test]
    fn set_partition_alignment() {
        let mut c = test_config();
        c.partition_align_bytes = 2 * CAPACITY_MULTIPLIER;
        let mut m = TestMemdev::new(c).unwrap();
        assert_eq!(m.execute(SET, &set_input(1, 1)).0, RetCode::InvalidInput);
        assert_eq!(m.execute(SET, &set_input(2, 1)).0, RetCode::Success);
        assert_eq!(get(&mut m), [6, 4, 0, 0]);
        assert_eq!(m.execute(SET, &set_input(4, 1)).0, RetCode::Success);
        assert_eq!(get(&mut m), [8, 2, 0, 0]);
    }

    #[test]
    fn dc_capacity_is_not_partitioned() {
        // The test device has DC regions: the static partitions are as
        // before.
        let mut m = test_memdev();
        assert_eq!(get(&mut m), [6, 4, 0, 0]);
        let mut m = TestMemdev::new(dc_only_config()).unwrap();
        assert_eq!(get(&mut m), [0, 0, 0, 0]);
        assert_eq!(m.execute(SET, &set_input(0, 1)).0, RetCode::Unsupported);
        assert_eq!(m.partition().volatile_dpa_range(), 0..0);
        assert_eq!(m.partition().persistent_dpa_range(), 0..0);
    }

    #[test]
    fn nothing_partitionable_is_unsupported() {
        let mut m = TestMemdev::new(MemdevConfig::default()).unwrap();
        assert_eq!(m.execute(SET, &set_input(0, 0)).0, RetCode::Unsupported);
        assert_eq!(get(&mut m), [1, 0, 0, 0]);
    }
}
