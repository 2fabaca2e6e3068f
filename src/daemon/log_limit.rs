//! Repeated warnings, rate-limited per call site, with a count of what was left out.
//!
//! One misbehaving peer can make the same warning fire hundreds of thousands of times:
//! 500,000 undecodable frames gave 500,000 WARN lines, 113 MB in 5 s, which rotates everything
//! useful out of the journal and can fill the disk. So each WARN or ERROR call site may write
//! [`BURST`] lines per [`WINDOW`]; beyond that its lines are only counted, and once the window
//! is over one line says how many were left out and what the first of them said. The metrics
//! still count every occurrence. INFO is rare by design and DEBUG/TRACE are asked for by an
//! operator chasing a problem, so neither is limited.
//!
//! [`RepeatLimiter`] is the policy on an explicit clock (tested in virtual time); [`LimitFilter`]
//! applies it to the log writer, and [`SummaryLayer`] writes the summaries, at the first event
//! after a window ends and when the engine stops ([`flush`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hash;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tracing::callsite::Identifier;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter, Layer};

/// Lines each call site may write per window.
pub const BURST: u32 = 10;
/// The window over which [`BURST`] applies.
pub const WINDOW: Duration = Duration::from_secs(60);
/// The target of the summary lines; never limited itself.
pub const TARGET: &str = "acd::log_limit";
/// How much of a left-out line a summary quotes.
const SAMPLE_CHARS: usize = 200;

/// Where a limited line comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteInfo {
    pub level: Level,
    pub target: String,
    /// `file:line` of the call site.
    pub site: String,
}

/// What was left out at one call site over one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    pub count: u64,
    pub from: SiteInfo,
    /// The start of the first line left out.
    pub sample: String,
}

struct Site {
    since: Instant,
    logged: u32,
    suppressed: u64,
    info: SiteInfo,
    sample: String,
}

/// Per call site (`K`: tracing's callsite identifier): [`BURST`] lines per [`WINDOW`], then
/// counted.
pub struct RepeatLimiter<K> {
    burst: u32,
    window: Duration,
    sites: HashMap<K, Site>,
}

impl<K: Hash + Eq> RepeatLimiter<K> {
    pub fn new(burst: u32, window: Duration) -> Self {
        RepeatLimiter {
            burst,
            window,
            sites: HashMap::new(),
        }
    }

    /// Whether a line of call site `key` may be written at `now`. `describe` is asked for at
    /// the site's first line, `message` only for the first line a window leaves out (it
    /// becomes the summary's sample).
    pub fn admit(
        &mut self,
        key: K,
        now: Instant,
        describe: impl FnOnce() -> SiteInfo,
        message: impl FnOnce() -> String,
    ) -> bool {
        let site = self.sites.entry(key).or_insert_with(|| Site {
            since: now,
            logged: 0,
            suppressed: 0,
            info: describe(),
            sample: String::new(),
        });
        // A window that ended with nothing left out starts afresh here; one that left lines
        // out waits for `due`, which reports them first.
        if site.suppressed == 0 && now.saturating_duration_since(site.since) >= self.window {
            site.since = now;
            site.logged = 0;
        }
        if site.logged < self.burst {
            site.logged += 1;
            return true;
        }
        if site.suppressed == 0 {
            site.sample = message().chars().take(SAMPLE_CHARS).collect();
        }
        site.suppressed += 1;
        false
    }

    /// The call sites whose window has ended with lines left out, each reported once; their
    /// next window starts at `now`.
    pub fn due(&mut self, now: Instant) -> Vec<Suppressed> {
        let window = self.window;
        self.take(
            |site| now.saturating_duration_since(site.since) >= window,
            now,
        )
    }

    /// Everything left out so far, window ended or not (when the engine stops).
    pub fn drain(&mut self, now: Instant) -> Vec<Suppressed> {
        self.take(|_| true, now)
    }

    fn take(&mut self, ended: impl Fn(&Site) -> bool, now: Instant) -> Vec<Suppressed> {
        let mut out: Vec<Suppressed> = self
            .sites
            .values_mut()
            .filter(|site| site.suppressed > 0 && ended(site))
            .map(|site| {
                let report = Suppressed {
                    count: site.suppressed,
                    from: site.info.clone(),
                    sample: std::mem::take(&mut site.sample),
                };
                site.since = now;
                site.logged = 0;
                site.suppressed = 0;
                report
            })
            .collect();
        out.sort_by(|a, b| a.from.site.cmp(&b.from.site));
        out
    }
}

fn limited(meta: &Metadata<'_>) -> bool {
    *meta.level() <= Level::WARN && meta.target() != TARGET
}

/// The one limiter of the process: the filter, the summary layer and [`flush`] share it.
fn shared() -> &'static Arc<Mutex<RepeatLimiter<Identifier>>> {
    static LIMITER: OnceLock<Arc<Mutex<RepeatLimiter<Identifier>>>> = OnceLock::new();
    LIMITER.get_or_init(|| Arc::new(Mutex::new(RepeatLimiter::new(BURST, WINDOW))))
}

fn with_limiter<T>(f: impl FnOnce(&mut RepeatLimiter<Identifier>) -> T) -> T {
    // A panic while the lock was held cannot leave the counts inconsistent in a way that
    // matters more than losing the log: go on with them.
    let mut guard = shared().lock().unwrap_or_else(|e| e.into_inner());
    f(&mut guard)
}

/// The per-layer filter of the log writer: drops lines beyond a call site's burst.
#[derive(Clone, Copy, Default)]
pub struct LimitFilter;

impl<S: Subscriber> Filter<S> for LimitFilter {
    fn enabled(&self, _meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &Event<'_>, _cx: &Context<'_, S>) -> bool {
        let meta = event.metadata();
        if !limited(meta) {
            return true;
        }
        let describe = || SiteInfo {
            level: *meta.level(),
            target: meta.target().to_string(),
            site: format!(
                "{}:{}",
                meta.file().unwrap_or("?"),
                meta.line().unwrap_or_default()
            ),
        };
        with_limiter(|limiter| {
            limiter.admit(meta.callsite(), Instant::now(), describe, || message(event))
        })
    }
}

/// Writes the summaries of ended windows; placed after the writer, so a summary follows the
/// event that found it due.
#[derive(Clone, Copy, Default)]
pub struct SummaryLayer;

impl<S: Subscriber> Layer<S> for SummaryLayer {
    fn on_event(&self, event: &Event<'_>, _cx: Context<'_, S>) {
        if event.metadata().target() == TARGET {
            return;
        }
        let due = with_limiter(|limiter| limiter.due(Instant::now()));
        report(due);
    }
}

/// Writes what is still left out, window ended or not: call before the last line at exit.
pub fn flush() {
    let pending = with_limiter(|limiter| limiter.drain(Instant::now()));
    report(pending);
}

fn report(suppressed: Vec<Suppressed>) {
    for s in suppressed {
        tracing::warn!(
            target: TARGET,
            suppressed = s.count,
            site = %s.from.site,
            from = %s.from.target,
            "{} more {} line(s) from {} left out of the log (at most {BURST} per {}s per call \
             site); the first said: {}",
            s.count,
            s.from.level,
            s.from.site,
            WINDOW.as_secs(),
            s.sample
        );
    }
}

/// The event's message, as written.
fn message(event: &Event<'_>) -> String {
    struct Message(String);
    impl Visit for Message {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "message" {
                self.0.push_str(value);
            }
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                let _ = write!(self.0, "{value:?}");
            }
        }
    }
    let mut visitor = Message(String::new());
    event.record(&mut visitor);
    visitor.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(level: Level) -> impl FnOnce() -> SiteInfo {
        move || SiteInfo {
            level,
            target: "acd_wire::connection::link".into(),
            site: "link.rs:149".into(),
        }
    }

    #[test]
    fn a_flood_keeps_its_burst_and_the_window_reports_the_rest_once() {
        let mut limiter = RepeatLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let admitted = (0..500_000u32)
            .filter(|i| limiter.admit("bad", t0, info(Level::WARN), || format!("bad frame {i}")))
            .count();
        assert_eq!(admitted, 3);
        assert!(limiter.due(t0 + Duration::from_secs(59)).is_empty());
        let due = limiter.due(t0 + Duration::from_secs(60));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].count, 499_997);
        assert_eq!(due[0].sample, "bad frame 3");
        assert_eq!(due[0].from, info(Level::WARN)());
        assert!(limiter.due(t0 + Duration::from_secs(61)).is_empty(), "once");
        // The next window has its burst again.
        let t1 = t0 + Duration::from_secs(61);
        let again = (0..5)
            .filter(|_| limiter.admit("bad", t1, info(Level::WARN), String::new))
            .count();
        assert_eq!(again, 3);
    }

    #[test]
    fn sites_are_limited_apart_and_a_quiet_one_never_loses_a_line() {
        let mut limiter = RepeatLimiter::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..100 {
            limiter.admit("loud", t0, info(Level::WARN), String::new);
        }
        for minute in 0..100u64 {
            let now = t0 + Duration::from_secs(60 * minute);
            assert!(
                limiter.admit("quiet", now, info(Level::ERROR), String::new),
                "{minute}"
            );
        }
        let due = limiter.drain(t0 + Duration::from_secs(6000));
        assert_eq!(due.iter().map(|s| s.count).collect::<Vec<_>>(), [98]);
    }

    #[test]
    fn draining_reports_a_window_not_yet_over() {
        let mut limiter = RepeatLimiter::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..4 {
            limiter.admit("x", t0, info(Level::WARN), || "x".into());
        }
        assert!(limiter.due(t0).is_empty());
        let drained = limiter.drain(t0);
        assert_eq!(drained.iter().map(|s| s.count).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn only_warnings_and_errors_are_limited_and_never_the_summaries() {
        let level_of = |level: Level| {
            Metadata::new(
                "e",
                "acd",
                level,
                None,
                None,
                None,
                tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&NO_CALLSITE)),
                tracing::metadata::Kind::EVENT,
            )
        };
        assert!(limited(&level_of(Level::WARN)));
        assert!(limited(&level_of(Level::ERROR)));
        assert!(!limited(&level_of(Level::INFO)));
        assert!(!limited(&level_of(Level::DEBUG)));
        let summary = Metadata::new(
            "e",
            TARGET,
            Level::WARN,
            None,
            None,
            None,
            tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&NO_CALLSITE)),
            tracing::metadata::Kind::EVENT,
        );
        assert!(!limited(&summary));
    }

    struct NoCallsite;
    static NO_CALLSITE: NoCallsite = NoCallsite;
    impl tracing::callsite::Callsite for NoCallsite {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!("never registered")
        }
    }
}
