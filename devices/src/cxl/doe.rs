//! Data Object Exchange mailbox (PCIe 6.0 6.30, capability 7.9.24) with the
//! DOE Discovery and CXL Table Access (CDAT) protocols.
//!
//! Register model at offsets relative to the start of the DOE extended
//! capability (PCIe 6.0 7.9.24; Linux `PCI_DOE_*`):
//! - `0x00` extended capability header: owned by the PCI config space (it
//!   holds the Next pointer); [`DoeMailbox::read`] returns 0 there and
//!   [`DoeMailbox::write`] ignores it. Use ID [`DOE_EXT_CAP_ID`], version
//!   [`DOE_CAP_VERSION`], size [`DOE_CAP_SIZE`].
//! - `0x04` DOE Capabilities: Interrupt Support, Interrupt Message Number.
//! - `0x08` DOE Control: Abort (W), Interrupt Enable (RW), Go (W).
//! - `0x0C` DOE Status: Busy, Interrupt Status (RW1C), Error, Data Object
//!   Ready.
//! - `0x10` Write Data Mailbox: each dword write appends to the request.
//! - `0x14` Read Data Mailbox: reads the current response dword; a dword
//!   write of any value advances to the next one.
//!
//! Linux (`drivers/pci/doe.c`) aborts at probe, then per exchange: checks
//! Busy/Error clear, writes the two header dwords and the payload to the
//! Write mailbox, sets Go, polls Status for Data Object Ready, then reads and
//! acks the Read mailbox dword by dword (checking Data Object Ready before
//! the last ack) and finally checks Error. Requests are processed
//! synchronously on Go, so Busy never reads 1 and the response is ready on
//! the first poll.
//!
//! Malformed requests (PCIe 6.0 6.30.1/6.30.2): a data object whose dword
//! count does not match its Length, or of an unsupported protocol or request,
//! is silently discarded (no response: Linux times out and aborts). A request
//! longer than this mailbox buffers sets Error; Abort clears everything.

use std::any::Any;

use crate::cxl::cdat::Cdat;
use crate::cxl::component::access::{read_bytes, write_bytes};

/// Extended capability ID of DOE.
pub const DOE_EXT_CAP_ID: u16 = 0x002e;
/// DOE capability version (PCIe 6.0).
pub const DOE_CAP_VERSION: u8 = 1;
/// Bytes of the DOE capability, header included.
pub const DOE_CAP_SIZE: u16 = 0x18;

/// DOE Capabilities register.
pub const DOE_CAPABILITIES: u64 = 0x04;
/// DOE Control register.
pub const DOE_CONTROL: u64 = 0x08;
/// DOE Status register.
pub const DOE_STATUS: u64 = 0x0c;
/// DOE Write Data Mailbox register.
pub const DOE_WRITE_DATA_MAILBOX: u64 = 0x10;
/// DOE Read Data Mailbox register.
pub const DOE_READ_DATA_MAILBOX: u64 = 0x14;

/// Capabilities: DOE Interrupt Support.
pub const DOE_CAP_INTERRUPT_SUPPORT: u32 = 1 << 0;
/// Capabilities: DOE Interrupt Message Number, bits 11:1.
pub const DOE_CAP_INTERRUPT_MESSAGE_SHIFT: u32 = 1;
/// Control: DOE Abort.
pub const DOE_CTRL_ABORT: u32 = 1 << 0;
/// Control: DOE Interrupt Enable.
pub const DOE_CTRL_INTERRUPT_ENABLE: u32 = 1 << 1;
/// Control: DOE Go.
pub const DOE_CTRL_GO: u32 = 1 << 31;
/// Status: DOE Busy.
pub const DOE_STATUS_BUSY: u32 = 1 << 0;
/// Status: DOE Interrupt Status.
pub const DOE_STATUS_INTERRUPT: u32 = 1 << 1;
/// Status: DOE Error.
pub const DOE_STATUS_ERROR: u32 = 1 << 2;
/// Status: Data Object Ready.
pub const DOE_STATUS_DATA_OBJECT_READY: u32 = 1 << 31;

/// Vendor ID of PCI-SIG defined protocols.
pub const PCI_SIG_VENDOR_ID: u16 = 0x0001;
/// DOE Discovery data object type.
pub const DOE_DISCOVERY: u8 = 0x00;
/// CXL vendor ID.
pub const CXL_VENDOR_ID: u16 = 0x1e98;
/// CXL Table Access data object type (CXL 3.1 8.1.11).
pub const CXL_TABLE_ACCESS: u8 = 0x02;
/// Table Access request/response code: Read Entry.
pub const TABLE_ACCESS_READ_ENTRY: u8 = 0;
/// Table Access table type: CDAT.
pub const TABLE_TYPE_CDAT: u8 = 0;

/// Largest data object in dwords (Length 0 encodes it).
pub const MAX_DATA_OBJECT_DWORDS: usize = 1 << 18;
/// Largest request this mailbox buffers; a longer one sets Error.
pub const MAX_REQUEST_DWORDS: usize = 1024;
const LENGTH_MASK: u32 = 0x3_ffff;

/// A protocol served over the mailbox.
pub trait DoeProtocol: Send {
    /// Vendor ID of the protocol.
    fn vendor_id(&self) -> u16;
    /// Data object type of the protocol.
    fn data_object_type(&self) -> u8;
    /// Handles a request's payload (the dwords after the two header dwords);
    /// returns the response payload, or `None` to discard the request.
    fn handle(&mut self, payload: &[u32]) -> Option<Vec<u32>>;
    /// `self`, for [`DoeMailbox::protocol_mut`].
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// The CXL Table Access protocol serving a CDAT (CXL 3.1 8.1.11.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CdatTableAccess {
    cdat: Cdat,
}

impl CdatTableAccess {
    /// Serves `cdat`.
    pub fn new(cdat: Cdat) -> Self {
        Self { cdat }
    }

    /// The table.
    pub fn cdat(&self) -> &Cdat {
        &self.cdat
    }

    /// The table, to update (e.g. [`Cdat::replace`]).
    pub fn cdat_mut(&mut self) -> &mut Cdat {
        &mut self.cdat
    }
}

/// Packs bytes into little-endian dwords, zero-padding the last.
fn to_dwords(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes.chunks(4).map(|c| {
        let mut d = [0u8; 4];
        for (slot, b) in d.iter_mut().zip(c) {
            *slot = *b;
        }
        u32::from_le_bytes(d)
    })
}

impl DoeProtocol for CdatTableAccess {
    fn vendor_id(&self) -> u16 {
        CXL_VENDOR_ID
    }

    fn data_object_type(&self) -> u8 {
        CXL_TABLE_ACCESS
    }

    /// Read Entry request: one dword of request code (7:0), table type
    /// (15:8) and entry handle (31:16). Response: the same layout with the
    /// *next* entry handle, then the entry.
    fn handle(&mut self, payload: &[u32]) -> Option<Vec<u32>> {
        let [req] = payload else {
            return None;
        };
        let code = (req & 0xff) as u8;
        let table = ((req >> 8) & 0xff) as u8;
        let handle = (req >> 16) as u16;
        if code != TABLE_ACCESS_READ_ENTRY || table != TABLE_TYPE_CDAT {
            return None;
        }
        let (entry, next) = self.cdat.entry(handle)?;
        let mut rsp = Vec::with_capacity(1 + entry.len().div_ceil(4));
        rsp.push(
            u32::from(TABLE_ACCESS_READ_ENTRY)
                | (u32::from(TABLE_TYPE_CDAT) << 8)
                | (u32::from(next) << 16),
        );
        rsp.extend(to_dwords(entry));
        Some(rsp)
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A DOE mailbox instance.
pub struct DoeMailbox {
    protocols: Vec<Box<dyn DoeProtocol>>,
    interrupt_message: Option<u16>,
    interrupt_enable: bool,
    interrupt_status: bool,
    error: bool,
    request: Vec<u32>,
    response: Vec<u32>,
    read_index: usize,
}

impl std::fmt::Debug for DoeMailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DoeMailbox")
            .field("protocols", &self.protocols.len())
            .field("error", &self.error)
            .field("request", &self.request.len())
            .field("response", &self.response.len())
            .field("read_index", &self.read_index)
            .finish()
    }
}

impl DoeMailbox {
    /// A mailbox serving `protocols` (Discovery is built in). With
    /// `interrupt_message` set it advertises DOE Interrupt Support with that
    /// MSI/MSI-X message number (11 bits).
    pub fn new(protocols: Vec<Box<dyn DoeProtocol>>, interrupt_message: Option<u16>) -> Self {
        Self {
            protocols,
            interrupt_message: interrupt_message.map(|m| m & 0x7ff),
            interrupt_enable: false,
            interrupt_status: false,
            error: false,
            request: Vec::new(),
            response: Vec::new(),
            read_index: 0,
        }
    }

    /// A mailbox serving `cdat` over CXL Table Access.
    pub fn with_cdat(cdat: Cdat, interrupt_message: Option<u16>) -> Self {
        Self::new(
            vec![Box::new(CdatTableAccess::new(cdat))],
            interrupt_message,
        )
    }

    /// The first protocol of type `T`, to update its state.
    pub fn protocol_mut<T: DoeProtocol + 'static>(&mut self) -> Option<&mut T> {
        self.protocols
            .iter_mut()
            .find_map(|p| p.as_any_mut().downcast_mut::<T>())
    }

    /// The Data Object Ready bit.
    pub fn data_object_ready(&self) -> bool {
        !self.response.is_empty()
    }

    /// The DOE Error bit.
    pub fn error(&self) -> bool {
        self.error
    }

    fn read32(&self, offset: u64) -> u32 {
        match offset {
            DOE_CAPABILITIES => self.interrupt_message.map_or(0, |m| {
                DOE_CAP_INTERRUPT_SUPPORT | (u32::from(m) << DOE_CAP_INTERRUPT_MESSAGE_SHIFT)
            }),
            // Abort and Go read as 0.
            DOE_CONTROL if self.interrupt_enable => DOE_CTRL_INTERRUPT_ENABLE,
            DOE_STATUS => {
                let mut v = 0;
                if self.interrupt_status {
                    v |= DOE_STATUS_INTERRUPT;
                }
                if self.error {
                    v |= DOE_STATUS_ERROR;
                }
                if self.data_object_ready() {
                    v |= DOE_STATUS_DATA_OBJECT_READY;
                }
                v
            }
            DOE_READ_DATA_MAILBOX => self.response.get(self.read_index).copied().unwrap_or(0),
            _ => 0,
        }
    }

    /// Config-space read of `data.len()` bytes at `offset` within the
    /// capability. Reads have no side effects.
    pub fn read(&self, offset: u64, data: &mut [u8]) {
        read_bytes(offset, data, |o| self.read32(o));
    }

    /// Config-space write at `offset` within the capability. Returns true
    /// if the device must now send the DOE interrupt (MSI/MSI-X message
    /// [`DoeMailbox::new`]'s `interrupt_message`).
    #[must_use]
    pub fn write(&mut self, offset: u64, data: &[u8]) -> bool {
        let mut interrupt = false;
        write_bytes(offset, data, |o, v, m| interrupt |= self.write32(o, v, m));
        interrupt
    }

    fn write32(&mut self, offset: u64, value: u32, mask: u32) -> bool {
        let full = mask == u32::MAX;
        match offset {
            DOE_CONTROL => {
                let v = value & mask;
                if v & DOE_CTRL_ABORT != 0 {
                    self.abort();
                    return false;
                }
                if mask & DOE_CTRL_INTERRUPT_ENABLE != 0 {
                    self.interrupt_enable =
                        self.interrupt_message.is_some() && v & DOE_CTRL_INTERRUPT_ENABLE != 0;
                }
                if v & DOE_CTRL_GO != 0 {
                    return self.go();
                }
                false
            }
            DOE_STATUS => {
                if value & mask & DOE_STATUS_INTERRUPT != 0 {
                    self.interrupt_status = false;
                }
                false
            }
            DOE_WRITE_DATA_MAILBOX if full => {
                if self.error {
                    return false;
                }
                if self.request.len() >= MAX_REQUEST_DWORDS {
                    self.request.clear();
                    self.error = true;
                    return self.raise();
                }
                self.request.push(value);
                false
            }
            DOE_READ_DATA_MAILBOX if full => {
                if self.data_object_ready() {
                    self.read_index += 1;
                    if self.read_index >= self.response.len() {
                        self.response.clear();
                        self.read_index = 0;
                    }
                }
                false
            }
            _ => false,
        }
    }

    /// DOE Abort: drops request and response, clears Error and Data Object
    /// Ready.
    pub fn abort(&mut self) {
        self.request.clear();
        self.response.clear();
        self.read_index = 0;
        self.error = false;
    }

    /// Function reset: [`DoeMailbox::abort`] plus interrupt state.
    pub fn reset(&mut self) {
        self.abort();
        self.interrupt_enable = false;
        self.interrupt_status = false;
    }

    /// Sets Interrupt Status if enabled; true if an interrupt must be sent.
    fn raise(&mut self) -> bool {
        if self.interrupt_enable && !self.interrupt_status {
            self.interrupt_status = true;
            return true;
        }
        false
    }

    fn discovery(&self, payload: &[u32]) -> Option<Vec<u32>> {
        let index = usize::from((*payload.first()? & 0xff) as u8);
        let mut list = vec![(PCI_SIG_VENDOR_ID, DOE_DISCOVERY)];
        list.extend(
            self.protocols
                .iter()
                .map(|p| (p.vendor_id(), p.data_object_type())),
        );
        // An index past the end answers with Discovery itself and ends the walk.
        let (vid, ty) = list
            .get(index)
            .copied()
            .unwrap_or((PCI_SIG_VENDOR_ID, DOE_DISCOVERY));
        let next = if index + 1 < list.len() { index + 1 } else { 0 };
        Some(vec![
            u32::from(vid) | (u32::from(ty) << 16) | ((next as u32 & 0xff) << 24),
        ])
    }

    /// Processes the buffered request (DOE Go).
    fn go(&mut self) -> bool {
        if self.error {
            return false;
        }
        let request = std::mem::take(&mut self.request);
        let Some(payload) = self.respond(&request) else {
            return false;
        };
        let total = payload.len() + 2;
        if total > MAX_DATA_OBJECT_DWORDS {
            self.error = true;
            return self.raise();
        }
        let (Some(&h1), length) = (request.first(), total as u32 & LENGTH_MASK) else {
            return false;
        };
        let mut rsp = Vec::with_capacity(total);
        rsp.push(h1 & 0x00ff_ffff);
        rsp.push(length);
        rsp.extend(payload);
        self.response = rsp;
        self.read_index = 0;
        self.raise()
    }

    /// The response payload for `request`, or `None` to discard it.
    fn respond(&mut self, request: &[u32]) -> Option<Vec<u32>> {
        let (&h1, &h2) = (request.first()?, request.get(1)?);
        let length = match (h2 & LENGTH_MASK) as usize {
            0 => MAX_DATA_OBJECT_DWORDS,
            n => n,
        };
        if length != request.len() || length < 2 {
            return None;
        }
        let vid = h1 as u16;
        let ty = (h1 >> 16) as u8;
        let payload = request.get(2..)?;
        if vid == PCI_SIG_VENDOR_ID && ty == DOE_DISCOVERY {
            return self.discovery(payload);
        }
        self.protocols
            .iter_mut()
            .find(|p| p.vendor_id() == vid && p.data_object_type() == ty)?
            .handle(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cxl::cdat::{DpaRange, DpaRangeKind, Performance, CDAT_LAST_ENTRY};

    fn rd(mb: &DoeMailbox, off: u64) -> u32 {
        let mut b = [0u8; 4];
        mb.read(off, &mut b);
        u32::from_le_bytes(b)
    }

    fn wr(mb: &mut DoeMailbox, off: u64, v: u32) -> bool {
        mb.write(off, &v.to_le_bytes())
    }

    /// One exchange the way Linux's `pci_doe_send_req` /
    /// `pci_doe_recv_resp` drive it; returns the response payload.
    fn exchange(
        mb: &mut DoeMailbox,
        vid: u16,
        ty: u8,
        payload: &[u32],
    ) -> Result<Vec<u32>, String> {
        let st = rd(mb, DOE_STATUS);
        if st & DOE_STATUS_BUSY != 0 {
            return Err("busy".into());
        }
        if st & DOE_STATUS_ERROR != 0 {
            return Err("error before send".into());
        }
        let _ = wr(
            mb,
            DOE_WRITE_DATA_MAILBOX,
            u32::from(vid) | (u32::from(ty) << 16),
        );
        let _ = wr(mb, DOE_WRITE_DATA_MAILBOX, 2 + payload.len() as u32);
        for &p in payload {
            let _ = wr(mb, DOE_WRITE_DATA_MAILBOX, p);
        }
        let _ = wr(mb, DOE_CONTROL, DOE_CTRL_GO);
        let st = rd(mb, DOE_STATUS);
        if st & DOE_STATUS_ERROR != 0 {
            return Err("error".into());
        }
        if st & DOE_STATUS_DATA_OBJECT_READY == 0 {
            return Err("timeout".into());
        }
        let h1 = rd(mb, DOE_READ_DATA_MAILBOX);
        if h1 != u32::from(vid) | (u32::from(ty) << 16) {
            return Err(format!("wrong protocol {h1:#x}"));
        }
        let _ = wr(mb, DOE_READ_DATA_MAILBOX, 0);
        let h2 = rd(mb, DOE_READ_DATA_MAILBOX);
        let _ = wr(mb, DOE_READ_DATA_MAILBOX, 0);
        let len = (h2 & LENGTH_MASK) as usize;
        if len < 2 {
            return Err("short".into());
        }
        let mut out = Vec::new();
        for i in 0..len - 2 {
            out.push(rd(mb, DOE_READ_DATA_MAILBOX));
            if i == len - 3 && rd(mb, DOE_STATUS) & DOE_STATUS_DATA_OBJECT_READY == 0 {
                return Err("DOR dropped before last ack".into());
            }
            let _ = wr(mb, DOE_READ_DATA_MAILBOX, 0);
        }
        let st = rd(mb, DOE_STATUS);
        if st & DOE_STATUS_ERROR != 0 {
            return Err("error after".into());
        }
        assert_eq!(st & DOE_STATUS_DATA_OBJECT_READY, 0, "DOR after last ack");
        Ok(out)
    }

    fn cdat() -> Cdat {
        let perf = Performance {
            read_latency_ps: 100_000,
            write_latency_ps: 100_000,
            read_bandwidth_mbps: 20_000,
            write_bandwidth_mbps: 20_000,
        };
        Cdat::for_memory_device(&[
            DpaRange {
                kind: DpaRangeKind::Volatile,
                dpa_base: 0,
                length: 1 << 30,
                performance: perf,
            },
            DpaRange {
                kind: DpaRangeKind::Persistent,
                dpa_base: 1 << 30,
                length: 1 << 30,
                performance: perf,
            },
        ])
        .unwrap()
    }

    fn read_req(handle: u16) -> u32 {
        u32::from(handle) << 16
    }

    #[test]
    fn discovery_lists_protocols() {
        let mut mb = DoeMailbox::with_cdat(cdat(), None);
        // Linux probes with an abort first.
        let _ = wr(&mut mb, DOE_CONTROL, DOE_CTRL_ABORT);
        assert_eq!(
            rd(&mb, DOE_STATUS) & (DOE_STATUS_BUSY | DOE_STATUS_ERROR),
            0
        );
        let r = exchange(&mut mb, PCI_SIG_VENDOR_ID, DOE_DISCOVERY, &[0]).unwrap();
        assert_eq!(r, vec![0x0100_0001]);
        let r = exchange(&mut mb, PCI_SIG_VENDOR_ID, DOE_DISCOVERY, &[1]).unwrap();
        assert_eq!(r, vec![0x0002_1e98]);
        let r = exchange(&mut mb, PCI_SIG_VENDOR_ID, DOE_DISCOVERY, &[7]).unwrap();
        assert_eq!(r, vec![0x0000_0001]);
    }

    #[test]
    fn full_cdat_read_dword_by_dword() {
        let table = cdat();
        let mut mb = DoeMailbox::with_cdat(table.clone(), None);
        // cxl_cdat_get_length: response[1] is the header's Length.
        let r = exchange(&mut mb, CXL_VENDOR_ID, CXL_TABLE_ACCESS, &[read_req(0)]).unwrap();
        let length = r[1] as usize;
        assert_eq!(length, table.to_bytes().len());
        // cxl_cdat_read_table.
        let mut handle = 0u16;
        let mut bytes = Vec::new();
        loop {
            let r = exchange(
                &mut mb,
                CXL_VENDOR_ID,
                CXL_TABLE_ACCESS,
                &[read_req(handle)],
            )
            .unwrap();
            let entry: Vec<u8> = r[1..].iter().flat_map(|d| d.to_le_bytes()).collect();
            // Exactly the entry: header 16 bytes, or the structure's length.
            if handle == 0 {
                assert_eq!(entry.len(), 16);
            } else {
                assert_eq!(
                    entry.len(),
                    usize::from(u16::from_le_bytes([entry[2], entry[3]]))
                );
            }
            assert_eq!(r[0] & 0xffff, 0, "response code and table type");
            bytes.extend(entry);
            handle = (r[0] >> 16) as u16;
            if handle == CDAT_LAST_ENTRY {
                break;
            }
        }
        assert_eq!(bytes, table.to_bytes());
        assert_eq!(bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
    }

    #[test]
    fn bad_requests_are_discarded() {
        let mut mb = DoeMailbox::with_cdat(cdat(), None);
        let bad: [(u16, u8, Vec<u32>); 7] = [
            (0x1234, 0, vec![0]),                           // unknown protocol
            (CXL_VENDOR_ID, 0x01, vec![0]),                 // unknown CXL type
            (CXL_VENDOR_ID, CXL_TABLE_ACCESS, vec![0x100]), // table type 1
            (CXL_VENDOR_ID, CXL_TABLE_ACCESS, vec![0x1]),   // request code 1
            (CXL_VENDOR_ID, CXL_TABLE_ACCESS, vec![read_req(500)]),
            (CXL_VENDOR_ID, CXL_TABLE_ACCESS, vec![0, 0]), // too long
            (PCI_SIG_VENDOR_ID, DOE_DISCOVERY, vec![]),    // no index
        ];
        for (vid, ty, p) in bad {
            assert_eq!(
                exchange(&mut mb, vid, ty, &p),
                Err("timeout".into()),
                "{vid:#x} {ty} {p:?}"
            );
            assert_eq!(rd(&mb, DOE_STATUS), 0);
        }
        // Length field that disagrees with the dwords written.
        for d in [u32::from(CXL_VENDOR_ID) | (2 << 16), 4, 0] {
            let _ = wr(&mut mb, DOE_WRITE_DATA_MAILBOX, d);
        }
        let _ = wr(&mut mb, DOE_CONTROL, DOE_CTRL_GO);
        assert_eq!(rd(&mb, DOE_STATUS), 0);
        // Go with nothing written, or one dword.
        let _ = wr(&mut mb, DOE_CONTROL, DOE_CTRL_GO);
        let _ = wr(&mut mb, DOE_WRITE_DATA_MAILBOX, 1);
        let _ = wr(&mut mb, DOE_CONTROL, DOE_CTRL_GO);
        assert_eq!(rd(&mb, DOE_STATUS), 0);
        // The mailbox still works.
        assert!(exchange(&mut mb, CXL_VENDOR_ID, CXL_TABLE_ACCESS, &[read_req(1)]).is_ok());
    }

    #[test]
    fn overlong_request_sets_error_until_abort() {
        let mut mb = DoeMailbox::with_cdat(cdat(), None);
        for _ in 0..=MAX_REQUEST_DWORDS {
            let _ = wr(&mut mb, DOE_WRITE_DATA_MAILBOX, 0);
        }
        assert_ne!(rd(&mb, DOE_STATUS) & DOE_STATUS_ERROR, 0);
        let _ = wr(&mut mb, DOE_CONTROL, DOE_CTRL_GO);
        assert_eq!(rd(&mb, DOE_STATUS) & DOE_STATUS_DATA_OBJECT_READY, 0);
        assert!(exchange(&mut mb, PCI_SIG_VENDOR_ID, DOE_DISCOVERY, &[0]).is_err());
        let _ = wr(&mut mb, DOE_CONTROL, DOE_CTRL_ABORT);
        assert_eq!(rd(&mb, DOE_STATUS), 0);
        assert!(exchange(&mut mb, PCI_SIG_VENDOR_ID, DOE_DISCOVERY, &[0]).is_ok());
    }

    #[test]
    fn abort_mid_request_and_mid_response() {
        let mut mb = DoeMailbox::with_cdat(cdat(), None);
        let _ = wr(&mut mb, DOE_WRITE_DATA_MAILBOX, u32::from(CXL_VENDOR_ID));
        let _ = wr(&mut mb, DOE_CONTROL, DOE_CTRL_ABORT);
        assert!(exchange(&mut mb, PCI_SIG_VENDOR_ID, DOE_DISCOVERY, &[0]).is_ok());
        // Response pending, half read.
        for d in [0x0002_1e98, 3, read_req(0)] {
            let _ = wr(&mut mb, DOE_WRITE_DATA_MAILBOX, d);
        }
        let _ = wr(&mut mb, DOE_CONTROL, DOE_CTRL_GO);
        assert_ne!(rd(&mb, DOE_STATUS) & DOE_STATUS_DATA_OBJECT_READY, 0);
        let _ = wr(&mut mb, DOE_READ_DATA_MAILBOX, 0);
        // Abort and Go read back as 0.
        let _ = wr(&mut mb, DOE_CONTROL, DOE_CTRL_ABORT);
        assert_eq!(rd(&mb, DOE_CONTROL), 0);
        assert_eq!(rd(&mb, DOE_STATUS), 0);
        assert_eq!(rd(&mb, DOE_READ_DATA_MAILBOX), 0);
        assert!(exchange(&mut mb, CXL_VENDOR_ID, CXL_TABLE_ACCESS, &[read_req(0)]).is_ok());
    }

    #[test]
    fn interrupts_when_supported_and_enabled() {
        let mut mb = DoeMailbox::with_cdat(cdat(), Some(3));
        assert_eq!(rd(&mb, DOE_CAPABILITIES), 1 | (3 << 1));
        assert!(!wr(&mut mb, DOE_CONTROL, DOE_CTRL_INTERRUPT_ENABLE));
        assert_eq!(rd(&mb, DOE_CONTROL), DOE_CTRL_INTERRUPT_ENABLE);
        for d in [u32::from(PCI_SIG_VENDOR_ID), 3, 0] {
            let _ = wr(&mut mb, DOE_WRITE_DATA_MAILBOX, d);
        }
        // Go with Interrupt Enable kept set, as a driver would write it.
        assert!(wr(
            &mut mb,
            DOE_CONTROL,
            DOE_CTRL_GO | DOE_CTRL_INTERRUPT_ENABLE
        ));
        assert_ne!(rd(&mb, DOE_STATUS) & DOE_STATUS_INTERRUPT, 0);
        let _ = wr(&mut mb, DOE_STATUS, DOE_STATUS_INTERRUPT);
        assert_eq!(rd(&mb, DOE_STATUS) & DOE_STATUS_INTERRUPT, 0);
        // Without support the enable bit is read-only zero.
        let mut mb = DoeMailbox::with_cdat(cdat(), None);
        assert_eq!(rd(&mb, DOE_CAPABILITIES), 0);
        let _ = wr(&mut mb, DOE_CONTROL, DOE_CTRL_INTERRUPT_ENABLE);
        assert_eq!(rd(&mb, DOE_CONTROL), 0);
        for d in [u32::from(PCI_SIG_VENDOR_ID), 3, 0] {
            let _ = wr(&mut mb, DOE_WRITE_DATA_MAILBOX, d);
        }
        assert!(!wr(&mut mb, DOE_CONTROL, DOE_CTRL_GO));
    }

    #[test]
    fn byte_go_and_partial_mailbox_writes() {
        let mut mb = DoeMailbox::with_cdat(cdat(), None);
        // A 2-byte write to the Write mailbox is not a dword: ignored.
        mb.write(DOE_WRITE_DATA_MAILBOX, &[1, 0])
            .then(|| panic!("irq"));
        for d in [u32::from(PCI_SIG_VENDOR_ID), 3, 1] {
            let _ = wr(&mut mb, DOE_WRITE_DATA_MAILBOX, d);
        }
        // Go by a byte write of bit 31.
        let _ = mb.write(DOE_CONTROL + 3, &[0x80]);
        assert_ne!(rd(&mb, DOE_STATUS) & DOE_STATUS_DATA_OBJECT_READY, 0);
        // Byte reads of the current dword work; acks need a dword write.
        let mut b = [0u8; 1];
        mb.read(DOE_READ_DATA_MAILBOX, &mut b);
        assert_eq!(b[0], 0x01);
        let _ = mb.write(DOE_READ_DATA_MAILBOX, &[0]);
        assert_eq!(rd(&mb, DOE_READ_DATA_MAILBOX), 1);
        // Header is the config space's: reads 0, writes ignored.
        assert_eq!(rd(&mb, 0), 0);
        let _ = wr(&mut mb, 0, u32::MAX);
        // Acks with no response pending do nothing.
        let _ = wr(&mut mb, DOE_CONTROL, DOE_CTRL_ABORT);
        let _ = wr(&mut mb, DOE_READ_DATA_MAILBOX, 0);
        assert_eq!(rd(&mb, DOE_STATUS), 0);
    }

    #[test]
    fn random_accesses_never_panic() {
        let mut mb = DoeMailbox::with_cdat(cdat(), Some(1));
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let off = if x & 1 == 0 { (x >> 8) % 0x20 } else { x >> 3 };
            let len = ((x >> 16) % 9) as usize;
            let data: Vec<u8> = (0..len).map(|i| (x >> (8 * (i % 8))) as u8).collect();
            if x & 2 == 0 {
                let _ = mb.write(off, &data);
            } else {
                let mut buf = vec![0u8; len];
                mb.read(off, &mut buf);
            }
        }
    }

    #[test]
    fn protocol_state_can_be_updated() {
        let mut mb = DoeMailbox::with_cdat(cdat(), None);
        let p = mb.protocol_mut::<CdatTableAccess>().unwrap();
        let s = p.cdat().structures().to_vec();
        p.cdat_mut().replace(s).unwrap();
        let r = exchange(&mut mb, CXL_VENDOR_ID, CXL_TABLE_ACCESS, &[read_req(0)]).unwrap();
        assert_eq!(r[4], 1, "sequence");
        mb.reset();
        assert_eq!(rd(&mb, DOE_STATUS), 0);
    }
}
