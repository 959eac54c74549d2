//! COM1: a 16550A UART built on `vm_superio::Serial`.
//!
//! Register it on the PIO bus at [`arch::layout::COM1_PORT`], 8 ports long.
//! Interrupts go out through an [`InterruptLine`] (the VMM wires it to ISA IRQ
//! [`arch::layout::COM1_IRQ`]); output bytes go to a writer the VMM chooses;
//! input bytes are fed with [`Serial::enqueue_input`].

use std::io::{self, Write};
use std::sync::Arc;

use vm_superio::serial::{Error as SerialError, NoEvents};
use vm_superio::Trigger;

use crate::bus::BusDevice;
use crate::interrupt::InterruptLine;

/// Number of ports a 16550 decodes.
pub const SERIAL_PORT_COUNT: u64 = 8;

/// Adapts an [`InterruptLine`] to vm-superio's [`Trigger`].
pub struct LineTrigger(Arc<dyn InterruptLine>);

impl Trigger for LineTrigger {
    type E = io::Error;

    fn trigger(&self) -> io::Result<()> {
        self.0.trigger()
    }
}

/// The output sink of a serial port.
pub type SerialOutput = Box<dyn Write + Send>;

/// A 16550A UART.
pub struct Serial {
    inner: vm_superio::Serial<LineTrigger, NoEvents, SerialOutput>,
}

impl Serial {
    /// A UART raising `interrupt` and writing transmitted bytes to `out`.
    pub fn new(interrupt: Arc<dyn InterruptLine>, out: SerialOutput) -> Self {
        Self {
            inner: vm_superio::Serial::new(LineTrigger(interrupt), out),
        }
    }

    /// Queues bytes for the guest to receive and raises the received-data
    /// interrupt if the guest enabled it. Returns how many bytes fit in the
    /// FIFO (0 when it is full); the caller retries the rest later.
    pub fn enqueue_input(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.inner.enqueue_raw_bytes(bytes) {
            Ok(n) => Ok(n),
            Err(SerialError::FullFifo) => Ok(0),
            Err(SerialError::Trigger(e)) | Err(SerialError::IOError(e)) => Err(e),
        }
    }

    /// Free room in the receive FIFO.
    pub fn fifo_capacity(&self) -> usize {
        self.inner.fifo_capacity()
    }
}

impl BusDevice for Serial {
    fn read(&mut self, _base: u64, offset: u64, data: &mut [u8]) {
        // 16550 registers are bytes; a wider access reads consecutive ports.
        for (i, b) in data.iter_mut().enumerate() {
            *b = match offset.checked_add(i as u64) {
                Some(off) if off < SERIAL_PORT_COUNT => self.inner.read(off as u8),
                _ => 0xff,
            };
        }
    }

    fn write(&mut self, _base: u64, offset: u64, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            match offset.checked_add(i as u64) {
                Some(off) if off < SERIAL_PORT_COUNT => {
                    if let Err(e) = self.inner.write(off as u8, b) {
                        crate::warn_limited!("serial: write to register {off}: {e:?}");
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::CountingLine;
    use std::sync::Mutex;

    const BASE: u64 = arch::layout::COM1_PORT as u64;
    // 16550 register offsets (PC16550D data sheet, table II).
    const THR: u64 = 0;
    const IER: u64 = 1;
    const IIR: u64 = 2;
    const LCR: u64 = 3;
    const LSR: u64 = 5;
    const SCR: u64 = 7;

    #[derive(Clone, Default)]
    struct SharedBuf(Arc<Mutex<Vec<u8>>>);

    impl Write for SharedBuf {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn serial() -> (Serial, Arc<CountingLine>, SharedBuf) {
        let line = Arc::new(CountingLine::default());
        let buf = SharedBuf::default();
        (Serial::new(line.clone(), Box::new(buf.clone())), line, buf)
    }

    fn read(s: &mut Serial, off: u64) -> u8 {
        let mut b = [0u8];
        s.read(BASE, off, &mut b);
        b[0]
    }

    #[test]
    fn output_bytes_and_thr_empty_interrupt() {
        let (mut s, line, buf) = serial();
        s.write(BASE, THR, b"h");
        s.write(BASE, THR, b"i");
        assert_eq!(buf.0.lock().unwrap().as_slice(), b"hi");
        assert_eq!(line.count(), 0);
        // Enabling the THR-empty interrupt raises it at once (THR is empty).
        s.write(BASE, IER, &[0x02]);
        assert_eq!(line.count(), 1);
        assert_eq!(read(&mut s, IIR) & 0x0f, 0x02);
        // Reading IIR acknowledged it; the next byte raises it again.
        s.write(BASE, THR, b"!");
        assert_eq!(line.count(), 2);
        assert_eq!(buf.0.lock().unwrap().as_slice(), b"hi!");
    }

    #[test]
    fn input_raises_rx_interrupt() {
        let (mut s, line, _) = serial();
        s.write(BASE, IER, &[0x01]);
        assert_eq!(line.count(), 0);
        assert_eq!(s.enqueue_input(b"ab").unwrap(), 2);
        assert_eq!(line.count(), 1);
        assert_eq!(read(&mut s, LSR) & 0x01, 0x01);
        assert_eq!(read(&mut s, THR), b'a');
        assert_eq!(read(&mut s, THR), b'b');
        assert_eq!(read(&mut s, LSR) & 0x01, 0);
    }

    #[test]
    fn full_fifo_accepts_nothing() {
        let (mut s, _, _) = serial();
        let cap = s.fifo_capacity();
        assert_eq!(s.enqueue_input(&vec![0u8; cap + 5]).unwrap(), cap);
        assert_eq!(s.enqueue_input(b"x").unwrap(), 0);
    }

    #[test]
    fn odd_accesses_do_not_panic() {
        let (mut s, _, _) = serial();
        s.write(BASE, SCR, &[0x5a, 0x11]);
        assert_eq!(read(&mut s, SCR), 0x5a);
        let mut b = [0u8; 4];
        s.read(BASE, 6, &mut b);
        assert_eq!(&b[2..], &[0xff, 0xff]);
        s.read(BASE, u64::MAX, &mut b);
        s.write(BASE, u64::MAX, &[1, 2]);
        s.write(BASE, LCR, &[0x80]);
        assert_eq!(read(&mut s, LCR), 0x80);
    }
}
