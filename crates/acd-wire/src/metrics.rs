//! The wire layer's Prometheus metrics, named in one place so names and help texts stay
//! consistent. The daemon installs the recorder; without one these calls are no-ops.

use metrics::{counter, describe_counter, describe_gauge, gauge, Unit};
use std::sync::Once;

pub const PBX_CONNECTED: &str = "acd_pbx_connected";
pub const PBX_RECONNECTS: &str = "acd_pbx_reconnects_total";
pub const PBX_CONNECT_ATTEMPTS: &str = "acd_pbx_connect_attempts_total";
pub const PBX_AUTH_FAILURES: &str = "acd_pbx_auth_failures_total";
pub const NOTIFIES_RECEIVED: &str = "acd_notifies_received_total";
pub const FRAME_ERRORS: &str = "acd_frame_errors_total";
pub const COMMANDS: &str = "acd_commands_total";
pub const PBX_NOTIFY_GAPS: &str = "acd_pbx_notify_gaps_total";
pub const COMMANDS_WITHHELD: &str = "acd_commands_withheld_total";

/// `acd_commands_total`'s `result` for a command nothing had to be sent for (Finish of a call
/// its ephemeral queue no longer reports): no frame was written, so it is not IP Office's
/// `success`.
pub const RESULT_NOT_NEEDED: &str = "not_needed";
/// `acd_commands_total`'s `result` for a command the engine could not address to any
/// subscription (the call or queue is unknown to the connection): refused here, never by IP
/// Office, so it must not read as one of IP Office's result codes.
pub const RESULT_REFUSED_LOCALLY: &str = "refused_locally";

/// Registers HELP texts once per process.
pub fn describe() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        describe_gauge!(
            PBX_CONNECTED,
            Unit::Count,
            "1 while the MT-CTI3 websocket to this IP Office is up, else 0"
        );
        describe_counter!(
            PBX_RECONNECTS,
            Unit::Count,
            "Successful reconnections to this IP Office (connections after the first)"
        );
        describe_counter!(
            PBX_CONNECT_ATTEMPTS,
            Unit::Count,
            "Websocket connection attempts to this IP Office, successful or not"
        );
        describe_counter!(
            PBX_AUTH_FAILURES,
            Unit::Count,
            "Connection attempts this IP Office refused for the credentials (HTTP 401/403)"
        );
        describe_counter!(
            NOTIFIES_RECEIVED,
            Unit::Count,
            "MT-CTI3 Notify messages received, by payload kind"
        );
        describe_counter!(
            FRAME_ERRORS,
            Unit::Count,
            "Websocket messages that could not be decoded, by error kind"
        );
        describe_counter!(
            COMMANDS,
            Unit::Count,
            "Commands for IP Office by command kind and result: IP Office's result code for a \
             frame written (requesttimeout when unanswered); not_needed when nothing had to be \
             sent, refused_locally when the engine could not address it, not_connected without \
             a link"
        );
        describe_counter!(
            PBX_NOTIFY_GAPS,
            Unit::Count,
            "Skips in a subscription's notify ids (notifies lost), by subscription kind; each one resubscribes"
        );
        describe_counter!(
            COMMANDS_WITHHELD,
            Unit::Count,
            "Commands this engine computed but did not send because it is not the twin's leader \
             (or its lease may have passed), by command kind"
        );
    });
}

/// Every series of an endpoint exists from start-up: "connected = 0" must be visible to an alert
/// when the engine never reached IP Office, and counters must start at 0 so that `increase()`
/// sees their first step.
pub fn register_endpoint(pbx: &str) {
    set_connected(pbx, false);
    counter!(PBX_RECONNECTS, "pbx" => pbx.to_string()).increment(0);
    counter!(PBX_CONNECT_ATTEMPTS, "pbx" => pbx.to_string()).increment(0);
    counter!(PBX_AUTH_FAILURES, "pbx" => pbx.to_string()).increment(0);
}

pub fn set_connected(pbx: &str, up: bool) {
    gauge!(PBX_CONNECTED, "pbx" => pbx.to_string()).set(if up { 1.0 } else { 0.0 });
}

pub fn reconnected(pbx: &str) {
    counter!(PBX_RECONNECTS, "pbx" => pbx.to_string()).increment(1);
}

pub fn connect_attempt(pbx: &str) {
    counter!(PBX_CONNECT_ATTEMPTS, "pbx" => pbx.to_string()).increment(1);
}

pub fn auth_failure(pbx: &str) {
    counter!(PBX_AUTH_FAILURES, "pbx" => pbx.to_string()).increment(1);
}

pub fn notify_received(kind: &'static str) {
    counter!(NOTIFIES_RECEIVED, "kind" => kind).increment(1);
}

pub fn frame_error(kind: &'static str) {
    counter!(FRAME_ERRORS, "kind" => kind).increment(1);
}

pub fn command(kind: &'static str, result: String) {
    counter!(COMMANDS, "kind" => kind, "result" => result).increment(1);
}

pub fn command_withheld(kind: &'static str) {
    counter!(COMMANDS_WITHHELD, "kind" => kind).increment(1);
}

pub fn notify_gap(kind: &'static str) {
    counter!(PBX_NOTIFY_GAPS, "kind" => kind).increment(1);
}

/// Puts the series alerts watch in place at zero, so an alert on their rate sees "none" rather
/// than "no data" before the first event. The daemon calls it once its recorder is installed.
pub fn zero_alerting_series() {
    for kind in ["lines", "queue", "user"] {
        counter!(PBX_NOTIFY_GAPS, "kind" => kind).increment(0);
    }
    // A follower withholds mostly these: the dashboard's rate reads 0, not "no data", at start.
    for kind in ["transfer", "set_priority", "finish"] {
        counter!(COMMANDS_WITHHELD, "kind" => kind).increment(0);
    }
}
