//! virtio-blk requests (virtio 1.2, 5.2.6): parsing a chain's buffers into
//! a request, and carrying it out on the image.
//!
//! A request is a 16-byte header (type, reserved, sector) in
//! device-readable memory, data, and a status byte: the last byte of the
//! chain, device-writable. Framing is free (VIRTIO_F_VERSION_1 implies
//! ANY_LAYOUT, 2.7.4.3): the header may share a buffer with data, and the
//! status may end a data buffer. Whatever the driver got wrong in one
//! request is answered with an error status in that request; only a chain
//! with nowhere to put the status stops the device.

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::discard::{self, Op};
use super::disk::{DiskImage, SECTOR_SIZE};
pub use super::status::{Segment, S_IOERR, S_OK, S_UNSUPP};
use crate::virtio::queue::Buffer;
use virtio_bindings::virtio_blk::{
    VIRTIO_BLK_ID_BYTES, VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID,
    VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_WRITE_ZEROES,
};

/// Size of struct virtio_blk_req's header (5.2.6).
pub const HEADER_SIZE: u64 = 16;

/// Limits the device announced (5.2.4: size_max, seg_max).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most data segments in one request.
    pub seg_max: u32,
    /// Largest data segment.
    pub size_max: u32,
    /// Discard and write-zeroes are offered.
    pub discard: bool,
}

/// The request types served (5.2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestType {
    /// VIRTIO_BLK_T_IN: read.
    In,
    /// VIRTIO_BLK_T_OUT: write.
    Out,
    /// VIRTIO_BLK_T_FLUSH.
    Flush,
    /// VIRTIO_BLK_T_GET_ID.
    GetId,
    /// VIRTIO_BLK_T_DISCARD (when offered).
    Discard,
    /// VIRTIO_BLK_T_WRITE_ZEROES (when offered).
    WriteZeroes,
    /// Anything else.
    Unsupported(u32),
}

impl RequestType {
    fn from(t: u32) -> Self {
        match t {
            VIRTIO_BLK_T_IN => Self::In,
            VIRTIO_BLK_T_OUT => Self::Out,
            VIRTIO_BLK_T_FLUSH => Self::Flush,
            VIRTIO_BLK_T_GET_ID => Self::GetId,
            VIRTIO_BLK_T_DISCARD => Self::Discard,
            VIRTIO_BLK_T_WRITE_ZEROES => Self::WriteZeroes,
            t => Self::Unsupported(t),
        }
    }
}

/// A parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Type.
    pub kind: RequestType,
    /// First sector.
    pub sector: u64,
    /// Data segments: device-readable for Out, device-writable otherwise.
    pub data: Vec<Segment>,
    /// Where the status byte goes.
    pub status: GuestAddress,
}

/// A request that cannot be carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// No device-writable last byte, or it is outside RAM: the request
    /// cannot be answered.
    NoStatus,
    /// Answer with this status (IOERR or UNSUPP) at this address.
    Fail(GuestAddress, u8, String),
}

/// The segments of `bufs` with the given direction, after skipping `skip`
/// bytes from the front and dropping `cut` bytes from the back.
fn segments(bufs: &[Buffer], writable: bool, skip: u64, cut: u64) -> Vec<Segment> {
    let mut out = Vec::new();
    let total: u64 = bufs
        .iter()
        .filter(|b| b.writable == writable)
        .map(|b| u64::from(b.len))
        .sum();
    let end = total.saturating_sub(cut);
    let mut pos = 0u64;
    for b in bufs.iter().filter(|b| b.writable == writable) {
        let (start, stop) = (pos, pos + u64::from(b.len));
        pos = stop;
        let s = start.max(skip);
        let e = stop.min(end);
        if s < e {
            if let Some(a) = b.addr.0.checked_add(s - start) {
                out.push((GuestAddress(a), (e - s) as u32));
            }
        }
    }
    out
}

fn total(segs: &[Segment]) -> u64 {
    segs.iter().map(|s| u64::from(s.1)).sum()
}

/// Reads `n` bytes gathered from `segs`.
fn gather(mem: &GuestMemoryMmap, segs: &[Segment], n: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; n];
    let mut filled = 0;
    for (addr, len) in segs {
        if filled == n {
            break;
        }
        let take = (*len as usize).min(n - filled);
        mem.read_slice(&mut out[filled..filled + take], *addr)
            .ok()?;
        filled += take;
    }
    (filled == n).then_some(out)
}

/// Parses the buffers of one chain (already checked by `walk_chain`).
pub fn parse(
    bufs: &[Buffer],
    mem: &GuestMemoryMmap,
    limits: Limits,
) -> Result<Request, ParseError> {
    // The status byte: the last byte of the chain, device-writable.
    let last = bufs.last().ok_or(ParseError::NoStatus)?;
    if !last.writable || last.len == 0 {
        return Err(ParseError::NoStatus);
    }
    let status = last
        .addr
        .0
        .checked_add(u64::from(last.len) - 1)
        .map(GuestAddress)
        .ok_or(ParseError::NoStatus)?;
    if mem.read_obj::<u8>(status).is_err() {
        return Err(ParseError::NoStatus);
    }
    let fail = |s: u8, why: &str| ParseError::Fail(status, s, why.to_string());

    let readable = segments(bufs, false, 0, 0);
    let header = gather(mem, &readable, HEADER_SIZE as usize)
        .ok_or_else(|| fail(S_IOERR, "header too short or outside RAM"))?;
    let word =
        |o: usize| u32::from_le_bytes([header[o], header[o + 1], header[o + 2], header[o + 3]]);
    let kind = RequestType::from(word(0));
    let sector = u64::from(word(8)) | (u64::from(word(12)) << 32);
    let out_data = segments(bufs, false, HEADER_SIZE, 0);
    let in_data = segments(bufs, true, 0, 1);

    let data = match kind {
        RequestType::Discard | RequestType::WriteZeroes if !limits.discard => {
            return Err(fail(S_UNSUPP, "discard and write-zeroes not offered"));
        }
        RequestType::Out | RequestType::Discard | RequestType::WriteZeroes => {
            if !in_data.is_empty() {
                return Err(fail(S_IOERR, "device-writable data in a write"));
            }
            out_data
        }
        RequestType::In | RequestType::GetId => {
            if !out_data.is_empty() {
                return Err(fail(S_IOERR, "device-readable data in a read"));
            }
            in_data
        }
        RequestType::Flush => Vec::new(),
        RequestType::Unsupported(t) => {
            return Err(fail(S_UNSUPP, &format!("request type {t}")));
        }
    };
    if data.len() > limits.seg_max as usize {
        return Err(fail(S_IOERR, "more segments than seg_max"));
    }
    if data.iter().any(|s| s.1 > limits.size_max) {
        return Err(fail(S_IOERR, "segment larger than size_max"));
    }
    Ok(Request {
        kind,
        sector,
        data,
        status,
    })
}

/// Carries out `req` on `disk`; returns the status and the bytes written
/// to device-writable data (for the used length).
pub fn execute(req: &Request, disk: &DiskImage, mem: &GuestMemoryMmap, id: &[u8]) -> (u8, u32) {
    match req.kind {
        RequestType::In | RequestType::Out => match transfer(req, disk, mem) {
            Ok(n) => (S_OK, n),
            Err(why) => {
                log::debug!("virtio-blk: {:?} at sector {}: {why}", req.kind, req.sector);
                (S_IOERR, 0)
            }
        },
        RequestType::Flush => match disk.flush() {
            Ok(()) => (S_OK, 0),
            Err(e) => {
                log::warn!("virtio-blk: flush: {e}");
                (S_IOERR, 0)
            }
        },
        RequestType::GetId => {
            let mut idbuf = [0u8; VIRTIO_BLK_ID_BYTES as usize];
            let n = id.len().min(idbuf.len());
            idbuf[..n].copy_from_slice(&id[..n]);
            let mut written = 0usize;
            for (addr, len) in &req.data {
                let take = (*len as usize).min(idbuf.len() - written);
                if mem
                    .write_slice(&idbuf[written..written + take], *addr)
                    .is_err()
                {
                    return (S_IOERR, 0);
                }
                written += take;
            }
            (S_OK, written as u32)
        }
        RequestType::Discard => (discard::execute(Op::Discard, &req.data, disk, mem), 0),
        RequestType::WriteZeroes => (discard::execute(Op::WriteZeroes, &req.data, disk, mem), 0),
        RequestType::Unsupported(_) => (S_UNSUPP, 0),
    }
}

fn transfer(req: &Request, disk: &DiskImage, mem: &GuestMemoryMmap) -> Result<u32, String> {
    let len = total(&req.data);
    if !len.is_multiple_of(SECTOR_SIZE) {
        return Err(format!("{len} bytes is not whole sectors"));
    }
    let start = req
        .sector
        .checked_mul(SECTOR_SIZE)
        .ok_or("sector overflows")?;
    let end = start.checked_add(len).ok_or("sector overflows")?;
    if end > disk.sectors() * SECTOR_SIZE {
        return Err(format!("past the end ({end:#x} > {:#x})", disk.size()));
    }
    if req.kind == RequestType::Out && disk.readonly() {
        // 5.2.6.2: writes to a read-only device fail and write nothing.
        return Err("read-only disk".into());
    }
    let mut off = start;
    let mut buf = Vec::new();
    for (addr, seg) in &req.data {
        buf.resize(*seg as usize, 0);
        if req.kind == RequestType::In {
            disk.read_at(&mut buf, off).map_err(|e| e.to_string())?;
            mem.write_slice(&buf, *addr)
                .map_err(|e| format!("buffer at {:#x}: {e}", addr.0))?;
        } else {
            mem.read_slice(&mut buf, *addr)
                .map_err(|e| format!("buffer at {:#x}: {e}", addr.0))?;
            disk.write_at(&buf, off).map_err(|e| e.to_string())?;
        }
        off += u64::from(*seg);
    }
    Ok(if req.kind == RequestType::In {
        len as u32
    } else {
        0
    })
}
