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
#[path = "partition_tests.rs"]
mod tests;
