//! Bounds-checked little-endian access to command payloads, and the
//! [`Decode`]/[`Encode`] traits of the typed payload structs.
//!
//! Every command has one input and one output struct, named as in the
//! specification and Linux's `cxlmem.h`. Only their `decode` functions read
//! guest-supplied bytes, through [`Input`], which never indexes past the
//! end: a short payload yields `None`, which `decode` turns into the spec's
//! return code. Outputs are built in an [`Output`] of a size the encoder
//! chooses; writes outside it are dropped (an encoder bug, never reachable
//! from guest data).

use super::RetCode;

/// Size of the Commands Payload Registers (2 KiB), the largest input or
/// output payload (CXL 3.1 8.2.8.4.3, Payload Size = 11).
pub const PAYLOAD_SIZE: usize = 2048;
/// log2 of [`PAYLOAD_SIZE`], as encoded in the Mailbox Capabilities
/// Register.
pub const PAYLOAD_SIZE_LOG2: u8 = 11;

/// A payload struct read from a command's input.
pub trait Decode<'a>: Sized {
    /// Decodes and checks the payload's length and fields: the return code
    /// of a malformed payload otherwise.
    fn decode(input: Input<'a>) -> Result<Self, RetCode>;
}

/// A payload struct written as bytes: outputs for the device, inputs for
/// tests and tools that drive it.
pub trait Encode {
    /// The payload's bytes.
    fn encode(&self) -> Vec<u8>;
}

/// The input of a command that takes none: any byte is Invalid Payload
/// Length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoInput;

impl Decode<'_> for NoInput {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(0)?;
        Ok(Self)
    }
}

impl Encode for NoInput {
    fn encode(&self) -> Vec<u8> {
        Vec::new()
    }
}

/// A command's input payload.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    /// Wraps the input payload bytes.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Length of the input payload in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True if the input payload is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// `len` bytes at `offset`, if present.
    pub fn bytes(&self, offset: usize, len: usize) -> Option<&'a [u8]> {
        let end = offset.checked_add(len)?;
        self.bytes.get(offset..end)
    }

    /// Everything from `offset` on (empty if `offset` is past the end).
    pub fn tail(&self, offset: usize) -> &'a [u8] {
        self.bytes.get(offset..).unwrap_or(&[])
    }

    /// The byte at `offset`.
    pub fn u8(&self, offset: usize) -> Option<u8> {
        self.bytes.get(offset).copied()
    }

    /// The little-endian u16 at `offset`.
    pub fn u16(&self, offset: usize) -> Option<u16> {
        self.array::<2>(offset).map(u16::from_le_bytes)
    }

    /// The little-endian u32 at `offset`.
    pub fn u32(&self, offset: usize) -> Option<u32> {
        self.array::<4>(offset).map(u32::from_le_bytes)
    }

    /// The little-endian u64 at `offset`.
    pub fn u64(&self, offset: usize) -> Option<u64> {
        self.array::<8>(offset).map(u64::from_le_bytes)
    }

    /// `N` bytes at `offset` as an array.
    pub fn array<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        self.bytes(offset, N)?.try_into().ok()
    }

    /// Checks the payload is exactly `len` bytes long (Invalid Payload
    /// Length otherwise).
    pub fn expect_len(&self, len: usize) -> Result<(), RetCode> {
        if self.bytes.len() == len {
            Ok(())
        } else {
            Err(RetCode::InvalidPayloadLength)
        }
    }

    /// Checks the payload is at least `len` bytes long (Invalid Payload
    /// Length otherwise).
    pub fn expect_min_len(&self, len: usize) -> Result<(), RetCode> {
        if self.bytes.len() >= len {
            Ok(())
        } else {
            Err(RetCode::InvalidPayloadLength)
        }
    }
}

/// A command's output payload under construction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    bytes: Vec<u8>,
}

impl Output {
    /// A zero-filled output payload of `len` bytes.
    pub fn zeroed(len: usize) -> Self {
        Self {
            bytes: vec![0; len],
        }
    }

    /// Writes `src` at `offset`; dropped if it does not fit.
    pub fn put_bytes(&mut self, offset: usize, src: &[u8]) {
        let Some(end) = offset.checked_add(src.len()) else {
            return;
        };
        if let Some(dst) = self.bytes.get_mut(offset..end) {
            dst.copy_from_slice(src);
        } else {
            debug_assert!(false, "output write {offset:#x}+{} out of range", src.len());
        }
    }

    /// Writes a byte at `offset`.
    pub fn put_u8(&mut self, offset: usize, value: u8) {
        self.put_bytes(offset, &[value]);
    }

    /// Writes a little-endian u16 at `offset`.
    pub fn put_u16(&mut self, offset: usize, value: u16) {
        self.put_bytes(offset, &value.to_le_bytes());
    }

    /// Writes the low 24 bits of `value`, little-endian, at `offset`.
    pub fn put_u24(&mut self, offset: usize, value: u32) {
        let b = value.to_le_bytes();
        self.put_bytes(offset, &b[..3]);
    }

    /// Writes a little-endian u32 at `offset`.
    pub fn put_u32(&mut self, offset: usize, value: u32) {
        self.put_bytes(offset, &value.to_le_bytes());
    }

    /// Writes a little-endian u64 at `offset`.
    pub fn put_u64(&mut self, offset: usize, value: u64) {
        self.put_bytes(offset, &value.to_le_bytes());
    }

    /// The finished payload.
    pub fn into_vec(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_reads_are_bounds_checked() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        let i = Input::new(&b);
        assert_eq!(i.u8(8), Some(9));
        assert_eq!(i.u8(9), None);
        assert_eq!(i.u16(0), Some(0x0201));
        assert_eq!(i.u16(8), None);
        assert_eq!(i.u32(5), Some(0x0908_0706));
        assert_eq!(i.u32(6), None);
        assert_eq!(i.u64(1), Some(0x0908_0706_0504_0302));
        assert_eq!(i.u64(2), None);
        assert_eq!(i.u64(usize::MAX), None);
        assert_eq!(i.bytes(usize::MAX, 2), None);
        assert_eq!(i.tail(7), &[8, 9]);
        assert_eq!(i.tail(100), &[] as &[u8]);
        assert_eq!(i.expect_len(9), Ok(()));
        assert_eq!(i.expect_len(8), Err(RetCode::InvalidPayloadLength));
        assert_eq!(i.expect_min_len(10), Err(RetCode::InvalidPayloadLength));
    }

    #[test]
    fn output_writes_little_endian() {
        let mut o = Output::zeroed(16);
        o.put_u16(0, 0x1234);
        o.put_u24(2, 0xAABBCC);
        o.put_u32(5, 0xDEAD_BEEF);
        o.put_u64(8, 0x0102_0304_0506_0708);
        // The u64 at 8 overwrites the last byte of the u32 at 5.
        assert_eq!(
            o.into_vec(),
            [0x34, 0x12, 0xCC, 0xBB, 0xAA, 0xEF, 0xBE, 0xAD, 8, 7, 6, 5, 4, 3, 2, 1]
        );
    }
}
