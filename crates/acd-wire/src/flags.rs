//! The bits of the subscription flags, in one place for both sides of the protocol: the
//! engine asks IP Office for detail with them and the simulator honours exactly the same bits,
//! so the two cannot drift apart (they once kept separate copies of the ephemeral bit).
//!
//! Bit meanings are the protocol guide's tables "Meaning of ccflags in queue/user",
//! "SubscribeLines" and "SubscribeQueue".

/// `ccflags` of a queue or user subscription: how much detail each `CallInfo` carries. `i32`
/// as on the wire.
pub mod ccflags {
    /// Bit 0: primary call-control data (without it there are no call notifies at all).
    pub const PRIMARY: i32 = 0x01;
    /// Bit 1: local and remote devices.
    pub const DEVICES: i32 = 0x02;
    /// Bit 2: additional simultaneous targets.
    pub const TARGETS_SIMULTANEOUS: i32 = 0x04;
    /// Bit 3: conference membership.
    pub const CONFERENCE: i32 = 0x08;
    /// Bit 4: dial info.
    pub const DIAL_INFO: i32 = 0x10;
    /// Bit 5: extended trunk detail (trunk type, DID).
    pub const TRUNK: i32 = 0x20;
    /// Bit 6: extended queue information.
    pub const QUEUE_INFO: i32 = 0x40;
    /// Bit 7: language, privacy.
    pub const LANGUAGE: i32 = 0x80;
    /// Bit 18: targets (who the call is offered to).
    pub const TARGETS: i32 = 0x4_0000;
    /// Bit 30, queues only: IP Office stops reporting a call on a queue subscription once it
    /// has left the queue, so no Finish is needed.
    pub const EPHEMERAL: i32 = 1 << 30;

    /// What the engine asks of a routed queue: rules match on language, DID and trunk; the
    /// targets show whom IP Office offers a call to; ephemeral unless the operator keeps
    /// reporting queues.
    pub const ENGINE_QUEUE: i32 = EPHEMERAL | TARGETS | LANGUAGE | QUEUE_INFO | TRUNK | PRIMARY;
    /// What the engine asks of an agent's user subscription (the guide's suggestion, 0x99).
    pub const ENGINE_USER: i32 = LANGUAGE | DIAL_INFO | CONFERENCE | PRIMARY;
}

/// `flags` of `SubscribeLines`: which tables IP Office lists.
pub mod lines {
    pub const USERS: i32 = 0x01;
    pub const GROUPS: i32 = 0x02;
    pub const PARK_SERVER: i32 = 0x04;
    /// Users and hunt groups: what the engine needs to find agents and queues.
    pub const ENGINE: i32 = USERS | GROUPS;
}

/// `flags` of `SubscribeQueue`.
pub mod queue {
    /// Bit 1: include the hunt group's member list.
    pub const MEMBERS: i32 = 0x02;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engines_flags_are_the_values_documented_on_the_wire() {
        // The values an IP Office administrator sees in a SysMonitor trace of the engine.
        assert_eq!(ccflags::ENGINE_QUEUE, 0x4004_00E1);
        assert_eq!(ccflags::ENGINE_USER, 0x99);
        assert_eq!(lines::ENGINE, 0x3);
        assert_eq!(queue::MEMBERS, 0x2);
    }
}
