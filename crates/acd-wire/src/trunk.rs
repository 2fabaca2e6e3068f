//! IP Office's trunk types (`TrunkInfo.trunktype`) and the core's [`TrunkKind`]: one mapping
//! for both directions, so what the simulator renders is exactly what the translator reads.

use crate::pb::trunk_info::TrunkType;
use acd_core::TrunkKind;

/// The wire's trunk type for a kind.
pub fn to_wire(kind: TrunkKind) -> TrunkType {
    match kind {
        TrunkKind::None => TrunkType::NoTrunk,
        TrunkKind::Sip => TrunkType::TrunkSip,
        TrunkKind::Isdn => TrunkType::TrunkIsdn,
        TrunkKind::H323 => TrunkType::TrunkH323,
        TrunkKind::T1 => TrunkType::TrunkT1,
        TrunkKind::R2 => TrunkType::TrunkR2,
        TrunkKind::Analog => TrunkType::TrunkAlog,
    }
}

/// The kind of a reported trunk type; a call without trunk detail is `None`.
pub fn from_wire(trunk_type: Option<TrunkType>) -> TrunkKind {
    match trunk_type {
        Some(TrunkType::TrunkSip) => TrunkKind::Sip,
        Some(TrunkType::TrunkIsdn) => TrunkKind::Isdn,
        Some(TrunkType::TrunkH323) => TrunkKind::H323,
        Some(TrunkType::TrunkT1) => TrunkKind::T1,
        Some(TrunkType::TrunkR2) => TrunkKind::R2,
        Some(TrunkType::TrunkAlog) => TrunkKind::Analog,
        Some(TrunkType::NoTrunk) | None => TrunkKind::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_survives_the_wire() {
        for kind in TrunkKind::ALL {
            assert_eq!(from_wire(Some(to_wire(kind))), kind);
        }
        assert_eq!(from_wire(None), TrunkKind::None);
    }
}
