//! Interleave arithmetic for HDM decoders and CFMWS windows.
//!
//! Everything here is pure arithmetic on *offsets*: an HPA offset is an
//! address minus the decoder's (or window's) base, a DPA offset is a device
//! address minus the DPA base the decoder maps.
//!
//! Encodings (CXL 3.1 8.2.4.20.7 HDM Decoder n Control; CEDT CFMWS ENIW/HBIG
//! use the same values):
//! - ways: `eiw` 0..=4 is `1 << eiw`, 8..=10 is `3 << (eiw - 8)`.
//! - granularity: `eig` 0..=6 is `256 << eig` (256 B ..= 16 KiB).
//!
//! Modulo interleave (CXL 3.1 8.2.4.20.13 Decoder Protection, and the
//! "modulo" interleave arithmetic of a CFMWS): split the HPA offset into
//! chunks of `granularity` bytes; chunk `c` goes to position `c % ways`, and at
//! that position it is device chunk `c / ways`. For power-of-two ways this is
//! the spec's bit formulation (`DPA[51:IG+8] = HPA[51:IG+8+IW]`, the low
//! `IG+8` bits unchanged); for 3/6/12 ways it equals the spec's
//! `DPA[51:IG+8] = HPA[51:IG+IW] / 3` — both are checked in the tests.

use std::fmt;

/// Smallest interleave granularity (encoded 0).
pub const MIN_GRANULARITY: u64 = 256;
/// Largest interleave granularity (encoded 6).
pub const MAX_GRANULARITY: u64 = 16 * 1024;
/// HDM decoder base/size/skip granule: 256 MiB (CXL 3.1 8.2.4.20.5..8).
pub const HDM_GRANULE: u64 = 256 << 20;
/// Highest valid encoded interleave granularity (EIG/HBIG).
pub const MAX_EIG: u8 = 6;

/// Why an interleave description is not valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Ways not one of 1, 2, 3, 4, 6, 8, 12, 16.
    InvalidWays(u32),
    /// Encoded ways (EIW/ENIW) not one of 0..=4, 8..=10.
    InvalidEiw(u8),
    /// Granularity not a power of two in 256 B ..= 16 KiB.
    InvalidGranularity(u64),
    /// Encoded granularity (EIG/HBIG) above 6.
    InvalidEig(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidWays(w) => write!(f, "invalid interleave ways {w}"),
            Self::InvalidEiw(e) => write!(f, "invalid encoded interleave ways {e:#x}"),
            Self::InvalidGranularity(g) => write!(f, "invalid interleave granularity {g}"),
            Self::InvalidEig(e) => write!(f, "invalid encoded interleave granularity {e:#x}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Encoded ways (IW / ENIW) to number of ways.
pub fn eiw_to_ways(eiw: u8) -> Option<u32> {
    match eiw {
        0..=4 => Some(1 << eiw),
        8..=10 => Some(3 << (eiw - 8)),
        _ => None,
    }
}

/// Number of ways to its encoding (IW / ENIW).
pub fn ways_to_eiw(ways: u32) -> Option<u8> {
    match ways {
        1 => Some(0),
        2 => Some(1),
        4 => Some(2),
        8 => Some(3),
        16 => Some(4),
        3 => Some(8),
        6 => Some(9),
        12 => Some(10),
        _ => None,
    }
}

/// Encoded granularity (IG / HBIG) to bytes.
pub fn eig_to_granularity(eig: u8) -> Option<u64> {
    (eig <= MAX_EIG).then(|| MIN_GRANULARITY << eig)
}

/// Granularity in bytes to its encoding (IG / HBIG).
pub fn granularity_to_eig(granularity: u64) -> Option<u8> {
    if !(MIN_GRANULARITY..=MAX_GRANULARITY).contains(&granularity) || !granularity.is_power_of_two()
    {
        return None;
    }
    // 256 = 2^8, so the encoding is log2(granularity) - 8 (at most 6).
    u8::try_from(granularity.trailing_zeros() - 8).ok()
}

/// A validated modulo interleave: `ways` targets, `granularity` bytes each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interleave {
    ways: u32,
    granularity: u64,
}

impl Default for Interleave {
    /// One way (no interleave) at 256 B, the all-zero register encoding.
    fn default() -> Self {
        Self::NONE
    }
}

impl Interleave {
    /// No interleaving: one way, 256 B granularity (encodings 0/0).
    pub const NONE: Interleave = Interleave {
        ways: 1,
        granularity: MIN_GRANULARITY,
    };

    /// An interleave of `ways` at `granularity` bytes.
    pub fn new(ways: u32, granularity: u64) -> Result<Self, DecodeError> {
        ways_to_eiw(ways).ok_or(DecodeError::InvalidWays(ways))?;
        granularity_to_eig(granularity).ok_or(DecodeError::InvalidGranularity(granularity))?;
        Ok(Self { ways, granularity })
    }

    /// An interleave from its register encodings (IW, IG) or CFMWS (ENIW, HBIG).
    pub fn from_encoded(eiw: u8, eig: u8) -> Result<Self, DecodeError> {
        let ways = eiw_to_ways(eiw).ok_or(DecodeError::InvalidEiw(eiw))?;
        let granularity = eig_to_granularity(eig).ok_or(DecodeError::InvalidEig(eig))?;
        Ok(Self { ways, granularity })
    }

    /// Number of ways.
    pub fn ways(&self) -> u32 {
        self.ways
    }

    /// Granularity in bytes.
    pub fn granularity(&self) -> u64 {
        self.granularity
    }

    /// Encoded ways (IW / ENIW).
    pub fn eiw(&self) -> u8 {
        // Validated at construction.
        ways_to_eiw(self.ways).unwrap_or(0)
    }

    /// Encoded granularity (IG / HBIG).
    pub fn eig(&self) -> u8 {
        granularity_to_eig(self.granularity).unwrap_or(0)
    }

    /// Bytes of HPA that hold one chunk for every position.
    pub fn stride(&self) -> u64 {
        self.granularity * u64::from(self.ways)
    }

    /// True for 3, 6 and 12 ways.
    pub fn is_multiple_of_three(&self) -> bool {
        self.ways.is_multiple_of(3)
    }

    /// The position (index into the target list, or the endpoint's position
    /// in the interleave set) that `hpa_offset` decodes to.
    pub fn position(&self, hpa_offset: u64) -> u32 {
        let chunk = hpa_offset / self.granularity;
        // `ways` <= 16, so the remainder fits.
        (chunk % u64::from(self.ways)) as u32
    }

    /// The target in `targets` (ordered by position) for `hpa_offset`; `None`
    /// if the list is shorter than `ways`.
    pub fn target<T: Copy>(&self, targets: &[T], hpa_offset: u64) -> Option<T> {
        targets.get(self.position(hpa_offset) as usize).copied()
    }

    /// HPA offset to the device's DPA offset (the interleave bits removed).
    /// Valid for any `hpa_offset`; the position is [`Interleave::position`].
    pub fn hpa_to_dpa(&self, hpa_offset: u64) -> u64 {
        let chunk = hpa_offset / self.granularity;
        let within = hpa_offset % self.granularity;
        (chunk / u64::from(self.ways)) * self.granularity + within
    }

    /// DPA offset at interleave `position` back to the HPA offset; `None` if
    /// `position >= ways` or the result does not fit in 64 bits.
    pub fn dpa_to_hpa(&self, dpa_offset: u64, position: u32) -> Option<u64> {
        if position >= self.ways {
            return None;
        }
        let device_chunk = dpa_offset / self.granularity;
        let within = dpa_offset % self.granularity;
        device_chunk
            .checked_mul(u64::from(self.ways))?
            .checked_add(u64::from(position))?
            .checked_mul(self.granularity)?
            .checked_add(within)
    }

    /// Mask of the HPA bits a decoder selects its target with, as CXL 3.1
    /// 8.2.4.20.13 defines them and Linux's `check_interleave_cap` checks
    /// them against the A11to8 / A14to12 capabilities: none for 1 and 3
    /// ways, bits `IG+8 ..= IG+7+IW` for 2/4/8/16 ways, bits
    /// `IG+8 ..= IG+IW-1` for 6 and 12 ways (the power-of-two part).
    pub fn selector_bits(&self) -> u64 {
        let eiw = u32::from(self.eiw());
        let eig = u32::from(self.eig());
        let low = eig + 8;
        let count = if eiw >= 8 { eiw - 8 } else { eiw };
        if count == 0 {
            return 0;
        }
        ((1u64 << count) - 1) << low
    }
}

/// Splits a region-level HPA offset for a CFMWS window with modulo interleave
/// arithmetic (ACPI CEDT CFMWS, Interleave Arithmetic 0): the host-bridge
/// index into the window's target list and the offset the host bridge sees.
/// The host bridge's own decoders see the full HPA, so the second value is
/// `hpa_offset` unchanged; it is returned for symmetry with DPA translation.
pub fn cfmws_target(window: Interleave, hpa_offset: u64) -> (u32, u64) {
    (window.position(hpa_offset), hpa_offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*) for property tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    const ALL_WAYS: [u32; 8] = [1, 2, 3, 4, 6, 8, 12, 16];

    fn all_interleaves() -> Vec<Interleave> {
        let mut v = Vec::new();
        for &w in &ALL_WAYS {
            for eig in 0..=MAX_EIG {
                v.push(Interleave::new(w, MIN_GRANULARITY << eig).unwrap());
            }
        }
        v
    }

    #[test]
    fn way_encodings_round_trip() {
        for eiw in 0..=255u8 {
            match eiw_to_ways(eiw) {
                Some(w) => assert_eq!(ways_to_eiw(w), Some(eiw)),
                None => assert!(matches!(eiw, 5..=7 | 11..=255), "eiw {eiw}"),
            }
        }
        for w in 0..=64u32 {
            assert_eq!(ways_to_eiw(w).is_some(), ALL_WAYS.contains(&w), "ways {w}");
        }
        assert_eq!(ways_to_eiw(3), Some(8));
        assert_eq!(ways_to_eiw(12), Some(10));
        assert_eq!(eiw_to_ways(4), Some(16));
    }

    #[test]
    fn granularity_encodings_round_trip() {
        for eig in 0..=255u8 {
            match eig_to_granularity(eig) {
                Some(g) => {
                    assert_eq!(granularity_to_eig(g), Some(eig));
                    assert!((256..=16384).contains(&g));
                }
                None => assert!(eig > 6),
            }
        }
        for g in [0, 1, 128, 255, 257, 384, 1000, 32768, u64::MAX] {
            assert_eq!(granularity_to_eig(g), None, "{g}");
        }
        assert_eq!(
            Interleave::from_encoded(5, 0),
            Err(DecodeError::InvalidEiw(5))
        );
        assert_eq!(
            Interleave::from_encoded(0, 7),
            Err(DecodeError::InvalidEig(7))
        );
        assert_eq!(Interleave::new(5, 256), Err(DecodeError::InvalidWays(5)));
        assert_eq!(
            Interleave::new(2, 300),
            Err(DecodeError::InvalidGranularity(300))
        );
    }

    #[test]
    fn round_trips_over_random_addresses() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for il in all_interleaves() {
            for _ in 0..2000 {
                // HPA offsets within a 52-bit space.
                let hpa = rng.next() & ((1u64 << 52) - 1);
                let pos = il.position(hpa);
                assert!(pos < il.ways());
                let dpa = il.hpa_to_dpa(hpa);
                assert_eq!(il.dpa_to_hpa(dpa, pos), Some(hpa), "{il:?} hpa {hpa:#x}");
                // And from the device side.
                let dpa2 = rng.next() & ((1u64 << 46) - 1);
                let p2 = (rng.next() % u64::from(il.ways())) as u32;
                let h2 = il.dpa_to_hpa(dpa2, p2).unwrap();
                assert_eq!(il.position(h2), p2);
                assert_eq!(il.hpa_to_dpa(h2), dpa2);
            }
        }
    }

    #[test]
    fn contiguous_hpa_maps_each_device_range_exactly_once() {
        for il in all_interleaves() {
            let chunks_per_dev = 5u64;
            let span = il.stride() * chunks_per_dev;
            let mut seen = vec![vec![0u32; chunks_per_dev as usize]; il.ways() as usize];
            let mut h = 0;
            while h < span {
                let pos = il.position(h) as usize;
                let dpa = il.hpa_to_dpa(h);
                assert_eq!(dpa % il.granularity(), 0);
                seen[pos][(dpa / il.granularity()) as usize] += 1;
                h += il.granularity();
            }
            assert!(seen.iter().flatten().all(|&n| n == 1), "{il:?}");
        }
    }

    #[test]
    fn matches_spec_bit_formulas() {
        let mut rng = Rng(42);
        for il in all_interleaves() {
            let eiw = u32::from(il.eiw());
            let eig = u32::from(il.eig());
            let low_mask = (1u64 << (eig + 8)) - 1;
            for _ in 0..500 {
                let hpa = rng.next() & ((1u64 << 52) - 1);
                let expect = if eiw < 8 {
                    ((hpa >> (eig + 8 + eiw)) << (eig + 8)) | (hpa & low_mask)
                } else {
                    (((hpa >> (eig + eiw)) / 3) << (eig + 8)) | (hpa & low_mask)
                };
                assert_eq!(il.hpa_to_dpa(hpa), expect, "{il:?} {hpa:#x}");
                if eiw < 8 && eiw > 0 {
                    let sel = (hpa >> (eig + 8)) & ((1 << eiw) - 1);
                    assert_eq!(u64::from(il.position(hpa)), sel);
                }
            }
        }
    }

    #[test]
    fn selector_bits_follow_linux_interleave_mask() {
        let il = Interleave::new(2, 256).unwrap();
        assert_eq!(il.selector_bits(), 1 << 8);
        let il = Interleave::new(16, 4096).unwrap();
        assert_eq!(il.selector_bits(), 0xf << 12);
        let il = Interleave::new(12, 1024).unwrap();
        assert_eq!(il.selector_bits(), 0b11 << 10);
        assert_eq!(Interleave::new(3, 512).unwrap().selector_bits(), 0);
        assert_eq!(Interleave::NONE.selector_bits(), 0);
    }

    #[test]
    fn two_level_hierarchy_is_consistent() {
        // Host bridge 2-way at G, each switch 2-way at 2G, region 4-way at G:
        // endpoint position = hb + 2 * switch.
        let g = 1024;
        let hb = Interleave::new(2, g).unwrap();
        let sw = Interleave::new(2, 2 * g).unwrap();
        let region = Interleave::new(4, g).unwrap();
        let mut rng = Rng(7);
        for _ in 0..5000 {
            let h = rng.next() & ((1u64 << 40) - 1);
            assert_eq!(
                region.position(h),
                hb.position(h) + 2 * sw.position(h),
                "{h:#x}"
            );
        }
        // 2-way CFMWS at G over 3-way host bridges at 2G: 6-way region at G,
        // endpoint position = window target + 2 * host-bridge position.
        let win = Interleave::new(2, g).unwrap();
        let below = Interleave::new(3, 2 * g).unwrap();
        let region = Interleave::new(6, g).unwrap();
        for _ in 0..5000 {
            let h = rng.next() & ((1u64 << 40) - 1);
            let (t, _) = cfmws_target(win, h);
            assert_eq!(region.position(h), t + 2 * below.position(h));
        }
    }

    #[test]
    fn bad_positions_and_overflow_are_refused() {
        let il = Interleave::new(4, 256).unwrap();
        assert_eq!(il.dpa_to_hpa(0, 4), None);
        assert_eq!(il.dpa_to_hpa(u64::MAX, 3), None);
        assert_eq!(il.target(&[1u8, 2], 0x300), None);
        assert_eq!(il.target(&[1u8, 2, 3, 4], 0x300), Some(4));
    }
}
