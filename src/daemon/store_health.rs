//! Whether the rules store can be written, told loudly and with its cause.
//!
//! A full disk, a read-only remount or a damaged store must not stop routing (the engine runs
//! the rules on disk, or keeps the last good version), but it must not pass unseen either: a
//! version that cannot be stored is missing from `acd rules history` and from any rollback.
//! Every store access reports here, so the gauge `acd_rules_store_writable` (and the alert
//! `AcdRulesStoreUnwritable` on it) follows the last attempt, and every failure is logged with
//! its whole cause chain ("No space left on device", "Read-only file system"): the store's
//! errors keep their cause as a `source()`, which a bare `to_string()` drops.

use super::telemetry;

/// The store could be opened for writing and what was written, was.
pub fn writable() {
    metrics::gauge!(telemetry::RULES_STORE_WRITABLE).set(1.0);
}

/// The store could not be opened or written: `what` failed because of `error`, and `then`
/// says what the engine does instead.
pub fn unwritable(what: &str, error: &dyn std::error::Error, then: &str) {
    metrics::gauge!(telemetry::RULES_STORE_WRITABLE).set(0.0);
    tracing::error!(
        cause = %cause_chain(error),
        "the rules store {what}: {then}; it is tried again every {} s and at each reload",
        super::rules_worker::STORE_RETRY.as_secs()
    );
}

/// `error` and each of its sources, joined by ": ", repeated messages shown once.
pub fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the rules store in /var/lib/acd")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_keeps_the_cause_an_outer_message_hides() {
        let io = std::io::Error::from_raw_os_error(30);
        let chain = cause_chain(&Outer(io));
        assert!(
            chain.starts_with("cannot open the rules store in /var/lib/acd: "),
            "{chain}"
        );
        assert!(chain.contains("Read-only file system"), "{chain}");
    }
}
