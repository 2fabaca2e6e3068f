//! The result codes of `RequestResponse` (the guide's appendix "Error codes"), so logs, metrics
//! and operator messages can say what a number means instead of printing it bare.

use std::fmt;

macro_rules! result_codes {
    ($($variant:ident = $code:literal, $name:literal, $meaning:literal;)*) => {
        /// A known MT-CTI3 result code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ResultCode {
            $($variant,)*
        }

        impl ResultCode {
            /// Every known code, in the guide's order.
            pub const ALL: &'static [ResultCode] = &[$(ResultCode::$variant,)*];

            /// The number on the wire.
            pub fn code(self) -> i32 {
                match self { $(ResultCode::$variant => $code,)* }
            }

            /// The guide's symbolic name (`MTCTISESS_...`).
            pub fn name(self) -> &'static str {
                match self { $(ResultCode::$variant => $name,)* }
            }

            /// What the code means, in words.
            pub fn meaning(self) -> &'static str {
                match self { $(ResultCode::$variant => $meaning,)* }
            }

            /// The known code for `code`, if any.
            pub fn from_code(code: i32) -> Option<ResultCode> {
                match code { $($code => Some(ResultCode::$variant),)* _ => None }
            }
        }
    };
}

result_codes! {
    Success = 0, "MTCTISESS_SUCCESS", "success";
    ErrUnknown = 1, "MTCTISESS_ERRUNKNOWN", "unknown error";
    UnpackErr = 2, "MTCTISESS_UNPACKERR", "message unpack error";
    NotInstrumented = 3, "MTCTISESS_NOTINSTRUMENTED", "not instrumented";
    NotFound = 4, "MTCTISESS_NOTFOUND", "not found";
    TooMany = 5, "MTCTISESS_TOOMANY", "too many";
    TooBig = 6, "MTCTISESS_TOOBIG", "too big";
    UserNotFound = 7, "MTCTISESS_USERNOTFOUND", "user not found";
    ServiceNotAvailable = 8, "MTCTISESS_SERVICE_NOT_AVAILABLE", "service not available";
    NotAllowed = 9, "MTCTISESS_NOTALLOWED", "not allowed";
    SubscriptionInvalid = 100, "MTCTISESS_SUBSCRIPTION_INVALID", "not a recognized subscription";
    SubscriptionInvalidId = 101, "MTCTISESS_SUBSCRIPTION_INVALID_ID", "subscription update with invalid id";
    SubscriptionTimeoutTooSmall = 102, "MTCTISESS_SUBSCRIPTION_TIMEOUT_TOO_SMALL", "subscription timeout too small";
    GenCmdErrUnknown = 150, "MTCTISESS_GENCMD_ERRUNKNOWN", "general command error";
    GenCmdInvalidPayload = 151, "MTCTISESS_GENCMD_INVALID_PAYLOAD", "general command badly formatted";
    GenCmdRequiredDataMissing = 152, "MTCTISESS_GENCMD_REQUIRED_DATA_MISSING", "general command with mandatory element missing";
    PresenceErrUnknown = 500, "MTCTISESS_PRESENCE_ERRUNKNOWN", "an error to do with a presence subscription";
    CallControlNoPhone = 600, "MTCTISESS_CALLCONTROL_NOPHONE", "can't make or unpark a call: the user is not logged in to any handset";
    CallControlExtnFault = 601, "MTCTISESS_CALLCONTROL_EXTNFAULT", "can't make a call: the user's phone is not connected";
    CallControlCallNotFound = 602, "MTCTISESS_CALLCONTROL_CALLNOTFOUND", "can't perform the action: the call cannot be found";
    CallControlMaxCalls = 603, "MTCTISESS_CALLCONTROL_MAXCALLS", "can't make a call: the user has no more call appearances";
    CallControlBadAcct = 604, "MTCTISESS_CALLCONTROL_BADACCT", "the account code is not valid";
    CallControlBadAuth = 605, "MTCTISESS_CALLCONTROL_BADAUTH", "the authorization code is not valid";
    CallControlTargetNotFound = 606, "MTCTISESS_CALLCONTROL_TARGETNOTFOUND", "the target of the action cannot be found";
    CallControlPermission = 607, "MTCTISESS_CALLCONTROL_PERMISSION", "no permission to perform this action";
    CallControlBadFormatting = 608, "MTCTISESS_CALLCONTROL_BADFORMATTING", "a field is missing, a string too long or a number out of range";
    CallControlInvalidCallState = 609, "MTCTISESS_CALLCONTROL_INVALIDCALLSTATE", "the action is not possible in the call's current state";
    CallControlCantBeDone = 610, "MTCTISESS_CALLCONTROL_CANTBEDONE", "the action can't be done on this phone (for example the handset must be picked up)";
    CallControlNoCoverage = 611, "MTCTISESS_CALLCONTROL_NOCOVERAGE", "can't drop a ringing call without a coverage destination";
    CallControlTransferFailed = 612, "MTCTISESS_CALLCONTROL_TRANSFERFAILED", "the blind transfer target is invalid or refused the call";
    CallControlParkFailed = 613, "MTCTISESS_CALLCONTROL_PARKFAILED", "could not park the call";
    CallControlOtherNotFound = 614, "MTCTISESS_CALLCONTROL_OTHERNOTFOUND", "complete transfer/conference with invalid related calls";
    CallControlCantComplete = 615, "MTCTISESS_CALLCONTROL_CANTCOMPLETE", "transfer completion not allowed for these calls";
    CallControlUnsupported = 616, "MTCTISESS_CALLCONTROL_UNSUPPORTED", "not a supported function";
    CallControlAlreadyDone = 617, "MTCTISESS_CALLCONTROL_ALREADYDONE", "the command would have no effect";
    RequestFailed = 5000, "MTCTISESS_REQUESTFAILED", "a valid command has failed";
    RequestTimeout = 5001, "MTCTISESS_REQUESTTIMEOUT", "a valid command has taken too long to create a response";
    RequestInvalidPayload = 5002, "MTCTISESS_REQUEST_INVALID_PAYLOAD", "a field is missing or out of range";
    RequestInvalidContext = 5003, "MTCTISESS_REQUEST_INVALID_CONTEXT", "can't find the context for this action";
}

impl ResultCode {
    pub fn is_success(self) -> bool {
        self == ResultCode::Success
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.code(), self.name(), self.meaning())
    }
}

/// A result as received: a known code, or a number the guide does not list (newer IP Office
/// releases may add some; they must be shown, not rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireResult {
    Known(ResultCode),
    Unknown(i32),
}

impl WireResult {
    pub fn from_code(code: i32) -> WireResult {
        ResultCode::from_code(code).map_or(WireResult::Unknown(code), WireResult::Known)
    }

    pub fn code(self) -> i32 {
        match self {
            WireResult::Known(c) => c.code(),
            WireResult::Unknown(n) => n,
        }
    }

    pub fn is_success(self) -> bool {
        self == WireResult::Known(ResultCode::Success)
    }

    /// A short label for metrics (`success`, or the lower-case name without prefix).
    pub fn metric_label(self) -> String {
        match self {
            WireResult::Known(c) => c
                .name()
                .trim_start_matches("MTCTISESS_")
                .to_ascii_lowercase(),
            WireResult::Unknown(_) => "unknown".to_string(),
        }
    }
}

impl fmt::Display for WireResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireResult::Known(c) => c.fmt(f),
            WireResult::Unknown(n) => {
                write!(f, "{n} (a result code the protocol guide does not list)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for &c in ResultCode::ALL {
            assert!(seen.insert(c.code()), "duplicate {}", c.code());
            assert_eq!(ResultCode::from_code(c.code()), Some(c));
            assert!(c.name().starts_with("MTCTISESS_"));
            assert!(!c.meaning().is_empty());
        }
    }

    #[test]
    fn guide_ranges_are_complete() {
        for code in (0..=9)
            .chain(100..=102)
            .chain(150..=152)
            .chain(600..=617)
            .chain(5000..=5003)
        {
            assert!(ResultCode::from_code(code).is_some(), "missing {code}");
        }
        assert!(ResultCode::from_code(500).is_some());
        assert_eq!(ResultCode::ALL.len(), 10 + 3 + 3 + 1 + 18 + 4);
    }

    #[test]
    fn unknown_codes_are_kept() {
        assert_eq!(WireResult::from_code(42), WireResult::Unknown(42));
        assert_eq!(WireResult::from_code(42).code(), 42);
        assert!(WireResult::from_code(0).is_success());
        assert_eq!(
            WireResult::from_code(612).metric_label(),
            "callcontrol_transferfailed"
        );
        assert!(WireResult::from_code(5001)
            .to_string()
            .contains("REQUESTTIMEOUT"));
    }
}
