//! What every part of a virtio-blk request's handling shares: a data
//! segment and the status byte values (virtio 1.2 5.2.6).

use virtio_bindings::virtio_blk::{VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP};
use vm_memory::GuestAddress;

/// A segment of data: guest address and length.
pub type Segment = (GuestAddress, u32);

/// Status byte values (5.2.6).
pub const S_OK: u8 = VIRTIO_BLK_S_OK as u8;
/// I/O error.
pub const S_IOERR: u8 = VIRTIO_BLK_S_IOERR as u8;
/// Unsupported request.
pub const S_UNSUPP: u8 = VIRTIO_BLK_S_UNSUPP as u8;
