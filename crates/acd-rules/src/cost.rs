//! A deterministic count of the work a check does, so a test can prove that checking stays
//! near-linear without timing anything (wall-clock assertions fail on a busy machine).
//!
//! Each loop that examines other items of the ruleset (looking a name up, comparing two
//! routes, visiting a graph edge, matching an agent) charges one unit per item examined. The
//! counter is thread-local, so tests running in parallel do not disturb each other, and costs
//! one add per unit in production.

use std::cell::Cell;

thread_local! {
    static UNITS: Cell<u64> = const { Cell::new(0) };
}

/// Records `units` items examined.
pub(crate) fn charge(units: usize) {
    UNITS.with(|u| u.set(u.get().saturating_add(units as u64)));
}

/// Runs `f` and returns its result with the units it charged on this thread.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = UNITS.with(Cell::get);
    let result = f();
    let after = UNITS.with(Cell::get);
    (result, after.saturating_sub(before))
}
