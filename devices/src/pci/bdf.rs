//! Bus/device/function addresses (PCIe 6.0 2.2.4.2, "Routing ID").

use std::fmt;

/// Devices per bus.
pub const DEVICES_PER_BUS: u8 = 32;
/// Functions per device.
pub const FUNCTIONS_PER_DEVICE: u8 = 8;

/// A device and function number on a bus (the 8-bit "devfn").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DevFn(u8);

impl DevFn {
    /// Device `device` (0..32) function `function` (0..8); None if out of range.
    pub fn new(device: u8, function: u8) -> Option<Self> {
        (device < DEVICES_PER_BUS && function < FUNCTIONS_PER_DEVICE)
            .then_some(Self((device << 3) | function))
    }

    /// Device number.
    pub fn device(self) -> u8 {
        self.0 >> 3
    }

    /// Function number.
    pub fn function(self) -> u8 {
        self.0 & 0x7
    }

    /// The raw 8-bit value.
    pub fn raw(self) -> u8 {
        self.0
    }
}

/// A function address in a segment: bus, device, function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bdf(u16);

impl Bdf {
    /// Bus `bus`, device `device` (0..32), function `function` (0..8); None
    /// if out of range.
    pub fn new(bus: u8, device: u8, function: u8) -> Option<Self> {
        DevFn::new(device, function).map(|df| Self::from_parts(bus, df))
    }

    /// Bus number and devfn.
    pub fn from_parts(bus: u8, devfn: DevFn) -> Self {
        Self((u16::from(bus) << 8) | u16::from(devfn.raw()))
    }

    /// From a 16-bit routing ID.
    pub fn from_routing_id(id: u16) -> Self {
        Self(id)
    }

    /// The 16-bit routing ID.
    pub fn routing_id(self) -> u16 {
        self.0
    }

    /// Bus number.
    pub fn bus(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// Device and function.
    pub fn devfn(self) -> DevFn {
        DevFn(self.0 as u8)
    }

    /// Device number.
    pub fn device(self) -> u8 {
        self.devfn().device()
    }

    /// Function number.
    pub fn function(self) -> u8 {
        self.devfn().function()
    }
}

impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}:{:02x}.{}",
            self.bus(),
            self.device(),
            self.function()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip() {
        let b = Bdf::new(0x12, 0x1f, 7).unwrap();
        assert_eq!((b.bus(), b.device(), b.function()), (0x12, 0x1f, 7));
        assert_eq!(b.routing_id(), 0x12ff);
        assert_eq!(b.to_string(), "12:1f.7");
        assert!(Bdf::new(0, 32, 0).is_none());
        assert!(Bdf::new(0, 0, 8).is_none());
        assert_eq!(
            Bdf::from_routing_id(0x0108).devfn(),
            DevFn::new(1, 0).unwrap()
        );
    }
}
