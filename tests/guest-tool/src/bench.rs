//! `bench`: read, write and memcpy bandwidth of one memory path, seen from
//! inside the guest.
//!
//! Every access is an 8-byte volatile load or store, never a vector or
//! string instruction: on an emulated path each access exits to the VMM,
//! whose instruction emulator must decode it, and the same loop must run on
//! every path for the figures to compare. `memcpy` copies the first half of
//! the buffer, less one page, to the second half one page in (source and
//! destination a power of two apart alias in direct-mapped structures: TCG's
//! TLB, cache sets), word by word, and counts the bytes copied.
//!
//! Sizes scale to the path: a probe times one 4 KiB read. A path faster
//! than 10 MB/s (memory the CPU reaches without exits) gets the whole
//! maximum, so RAM, static CXL memory and a DC extent are measured over the
//! same bytes; a slower one (every access an exit: microseconds each
//! directly, hundreds nested) gets what its speed covers in the time budget
//! (at least 16 KiB), so it finishes in seconds. One untimed write pass first
//! faults every page in; each operation then runs PASSES timed passes and
//! the median is reported.

use std::time::Instant;

use crate::mem::Mapping;

const PROBE: usize = 4096;
const MIN_LEN: usize = 16384;
/// memcpy's destination is this far past the buffer's middle.
const COPY_SKEW: usize = 4096;
/// Below this (MB/s) a path is taken for an emulated one and scaled down.
const FAST_MB_S: f64 = 10.0;

/// What one `bench` run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Result {
    pub bytes: usize,
    pub passes: usize,
    pub read: f64,
    pub write: f64,
    pub memcpy: f64,
}

fn read_pass(p: *const u64, words: usize) -> u64 {
    let mut acc = 0u64;
    for i in 0..words {
        // SAFETY: the caller passes a mapping of at least `words` words.
        acc ^= unsafe { std::ptr::read_volatile(p.add(i)) };
    }
    acc
}

fn write_pass(p: *mut u64, words: usize, v: u64) {
    for i in 0..words {
        // SAFETY: as above.
        unsafe { std::ptr::write_volatile(p.add(i), v ^ i as u64) };
    }
}

fn copy_pass(src: *const u64, dst: *mut u64, words: usize) {
    for i in 0..words {
        // SAFETY: both halves hold `words` words and do not overlap.
        unsafe { std::ptr::write_volatile(dst.add(i), std::ptr::read_volatile(src.add(i))) };
    }
}

/// MB/s (10^6 bytes per second) for `bytes` in `secs`.
pub fn mb_s(bytes: usize, secs: f64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    bytes as f64 / secs / 1e6
}

/// The median of `v` (not empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Buffer length for a path that read PROBE bytes in `probe_secs`: `max`
/// (16 KiB aligned) for a fast path; for a slow one what its speed covers
/// in `budget_secs`, 16 KiB aligned, within MIN_LEN..=max.
pub fn scaled_len(probe_secs: f64, budget_secs: f64, max: usize) -> usize {
    let speed = PROBE as f64 / probe_secs.max(1e-9);
    let max = (max / MIN_LEN * MIN_LEN).max(MIN_LEN);
    if speed / 1e6 >= FAST_MB_S {
        return max;
    }
    let want = (speed * budget_secs) as usize;
    (want / MIN_LEN * MIN_LEN).clamp(MIN_LEN, max)
}

fn timed(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

/// Measures the mapping `m` over at most `max` bytes.
pub fn run(m: &Mapping, max: usize, budget_secs: f64, passes: usize) -> Result {
    let p = m.words();
    // Fault the probe page in, then time one read of it.
    write_pass(p, PROBE / 8, 0);
    let probe = timed(|| {
        std::hint::black_box(read_pass(p, PROBE / 8));
    });
    let len = scaled_len(probe, budget_secs, max.min(m.size()));
    let words = len / 8;
    write_pass(p, words, 0x5a5a);
    let passes = passes.max(1);
    let mut read = Vec::new();
    let mut write = Vec::new();
    let mut copy = Vec::new();
    for pass in 0..passes {
        read.push(mb_s(
            len,
            timed(|| {
                std::hint::black_box(read_pass(p, words));
            }),
        ));
        write.push(mb_s(len, timed(|| write_pass(p, words, pass as u64))));
        // SAFETY: the destination starts one page into the second half and
        // the copy ends at the buffer's end (len is a multiple of 16 KiB).
        let dst = unsafe { p.add(words / 2 + COPY_SKEW / 8) };
        let n = words / 2 - COPY_SKEW / 8;
        copy.push(mb_s(n * 8, timed(|| copy_pass(p, dst, n))));
    }
    Result {
        bytes: len,
        passes,
        read: median(read),
        write: median(write),
        memcpy: median(copy),
    }
}

/// A figure with at least 4 significant digits (trapped paths run at
/// hundredths of a MB/s).
fn fig(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.6}")
    }
}

/// One result line: `E2E-BENCH: kind=bw path=LABEL bytes=N passes=P
/// read=MB/s write=MB/s memcpy=MB/s`.
pub fn line(label: &str, r: &Result) -> String {
    format!(
        "E2E-BENCH: kind=bw path={label} bytes={} passes={} read={} write={} memcpy={}",
        r.bytes,
        r.passes,
        fig(r.read),
        fig(r.write),
        fig(r.memcpy)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn small_figures_keep_their_digits() {
        let r = Result {
            bytes: 8192,
            passes: 3,
            read: 0.01712,
            write: 4630.64,
            memcpy: 12.5,
        };
        assert_eq!(
            line("il", &r),
            "E2E-BENCH: kind=bw path=il bytes=8192 passes=3 read=0.017120 write=4630.6 memcpy=12.500000"
        );
    }

    #[test]
    fn scaled_len_bounds() {
        // 4 KiB in 1 ms = 4 MB/s, slow; 0.5 s -> 2 MB, 16 KiB aligned.
        assert_eq!(
            scaled_len(0.001, 0.5, 64 << 20),
            2_048_000 / MIN_LEN * MIN_LEN
        );
        // A trapped path: the floor.
        assert_eq!(scaled_len(0.25, 0.5, 64 << 20), MIN_LEN);
        // Fast paths all get the whole maximum, however fast.
        assert_eq!(scaled_len(1e-7, 0.5, 1 << 20), 1 << 20);
        assert_eq!(scaled_len(4e-4, 0.5, 64 << 20), 64 << 20);
    }

    #[test]
    fn run_on_anonymous_memory() {
        let m = Mapping::anon(1 << 20).unwrap();
        let r = run(&m, 1 << 20, 0.01, 1);
        assert!(r.bytes >= MIN_LEN && r.bytes <= 1 << 20);
        assert!(r.read > 0.0 && r.write > 0.0 && r.memcpy > 0.0);
        assert!(line("ram", &r).starts_with("E2E-BENCH: kind=bw path=ram bytes="));
    }
}
