//! Rate limits for log lines a guest can trigger over and over (a BAR moved
//! onto the ECAM in a loop, a mailbox doorbell rung in a loop): each call
//! site logs its first few lines, then one summary line at most every
//! [`INTERVAL_MS`] with the number of lines it held back. At every level:
//! a guest must not be able to fill the host's disk through `-v` either.
//!
//! Use the macros: `warn_limited!("...", args)`, and `info_limited!`,
//! `debug_limited!`, `error_limited!`; `burst = N;` first for a call site
//! whose lines are worth more of (mailbox commands at `-v`). A limiter only
//! counts calls whose level is enabled.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Lines a call site logs before it starts holding them back.
pub const BURST: u64 = 10;
/// The burst of call sites whose every line matters to someone testing a
/// driver at `-v` (mailbox commands, memslots): a boot's worth, not a
/// guest's loop's.
pub const VERBOSE_BURST: u64 = 1000;
/// At most one summary line per call site this often, in milliseconds.
pub const INTERVAL_MS: u64 = 10_000;

/// What to do with one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Log it as it is.
    Log,
    /// Log it, and say that lines like it will be held back from now on.
    Last,
    /// Log it with the number of lines held back since the last one shown.
    Summary(u64),
    /// Hold it back (counted).
    Quiet,
}

/// One call site's counts.
#[derive(Debug)]
pub struct LogLimit {
    burst: u64,
    calls: AtomicU64,
    held: AtomicU64,
    /// Milliseconds (on [`now_ms`]'s clock) of the last line shown.
    last_shown: AtomicU64,
}

/// Milliseconds since the first limited call in this process.
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let ms = START.get_or_init(Instant::now).elapsed().as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

impl LogLimit {
    /// A limiter that shows the first `burst` lines.
    pub const fn new(burst: u64) -> Self {
        Self {
            burst,
            calls: AtomicU64::new(0),
            held: AtomicU64::new(0),
            last_shown: AtomicU64::new(0),
        }
    }

    /// The verdict for a call now.
    pub fn check(&self) -> Verdict {
        self.check_at(now_ms())
    }

    /// The verdict for a call at `now` milliseconds.
    pub fn check_at(&self, now: u64) -> Verdict {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        if n.saturating_add(1) < self.burst {
            return Verdict::Log;
        }
        if n.saturating_add(1) == self.burst {
            self.last_shown.store(now, Ordering::Relaxed);
            return Verdict::Last;
        }
        let last = self.last_shown.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= INTERVAL_MS
            && self
                .last_shown
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Verdict::Summary(self.held.swap(0, Ordering::Relaxed));
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        Verdict::Quiet
    }
}

/// Logs at `level` through a limiter of its own (one per call site).
#[macro_export]
macro_rules! log_limited {
    ($level:expr, burst = $burst:expr; $($arg:tt)+) => {{
        static LIMIT: $crate::log_limit::LogLimit = $crate::log_limit::LogLimit::new($burst);
        let level = $level;
        if $crate::__log::log_enabled!(level) {
            match LIMIT.check() {
                $crate::log_limit::Verdict::Log => $crate::__log::log!(level, $($arg)+),
                $crate::log_limit::Verdict::Last => $crate::__log::log!(
                    level,
                    "{} [more like this: one line per {} s with a count]",
                    format_args!($($arg)+),
                    $crate::log_limit::INTERVAL_MS / 1000
                ),
                $crate::log_limit::Verdict::Summary(n) => $crate::__log::log!(
                    level,
                    "{} [{} more like this not shown]",
                    format_args!($($arg)+),
                    n
                ),
                $crate::log_limit::Verdict::Quiet => {}
            }
        }
    }};
    ($level:expr, $($arg:tt)+) => {
        $crate::log_limited!($level, burst = $crate::log_limit::BURST; $($arg)+)
    };
}

/// `log::warn!`, rate-limited per call site.
#[macro_export]
macro_rules! warn_limited {
    ($($arg:tt)+) => { $crate::log_limited!($crate::__log::Level::Warn, $($arg)+) };
}

/// `log::error!`, rate-limited per call site.
#[macro_export]
macro_rules! error_limited {
    ($($arg:tt)+) => { $crate::log_limited!($crate::__log::Level::Error, $($arg)+) };
}

/// `log::info!`, rate-limited per call site.
#[macro_export]
macro_rules! info_limited {
    ($($arg:tt)+) => { $crate::log_limited!($crate::__log::Level::Info, $($arg)+) };
}

/// `log::debug!`, rate-limited per call site.
#[macro_export]
macro_rules! debug_limited {
    ($($arg:tt)+) => { $crate::log_limited!($crate::__log::Level::Debug, $($arg)+) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn a_flood_gives_a_burst_then_counted_summaries() {
        let l = LogLimit::new(BURST);
        let (mut shown, mut reported, mut last) = (0u64, 0u64, 0);
        // 100,000 calls over 100 simulated seconds.
        for i in 0..100_000u64 {
            match l.check_at(i) {
                Verdict::Log => shown += 1,
                Verdict::Last => {
                    shown += 1;
                    last = i;
                }
                Verdict::Summary(n) => {
                    shown += 1;
                    reported += n;
                    assert!(i - last >= INTERVAL_MS);
                    last = i;
                }
                Verdict::Quiet => {}
            }
        }
        // 10 + one summary per 10 s.
        assert!(shown <= BURST + 100_000 / INTERVAL_MS, "{shown} lines");
        // Nothing is lost: shown, reported, and what is still held.
        assert_eq!(shown + reported + l.held.load(Ordering::Relaxed), 100_000);
        assert!(reported > 80_000, "{reported}");
    }

    /// Counts what reaches the logger (this module's lines only).
    struct Capture(Mutex<Vec<String>>);

    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, r: &log::Record) {
            if r.target() == module_path!() {
                self.0.lock().unwrap().push(r.args().to_string());
            }
        }
        fn flush(&self) {}
    }

    static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

    #[test]
    fn the_macro_limits_each_call_site_at_every_level() {
        if log::set_logger(&CAPTURE).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
        }
        for i in 0..100_000u32 {
            crate::warn_limited!("BAR moved onto the ECAM, try {i}");
            crate::debug_limited!("unhandled MMIO {i}");
        }
        let lines = CAPTURE.0.lock().unwrap().clone();
        // Each site: its burst, the last of it saying what follows, and at
        // most a summary (the loop takes well under the interval).
        for site in ["BAR moved", "unhandled MMIO"] {
            let of: Vec<&String> = lines.iter().filter(|l| l.starts_with(site)).collect();
            assert!(of.len() as u64 <= BURST + 1, "{site}: {} lines", of.len());
            assert!(
                of[BURST as usize - 1]
                    .ends_with("[more like this: one line per 10 s with a count]"),
                "{of:?}"
            );
        }
        // With its own burst.
        for i in 0..50 {
            crate::info_limited!(burst = 40; "mailbox command {i}");
        }
        let lines = CAPTURE.0.lock().unwrap().clone();
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("mailbox command"))
                .count(),
            40
        );
    }
}
