//! Renders the model as MT-CTI3 messages: lines lists, user and queue notifies, and call
//! snapshots (`CallInfo`) as a queue or a user sees them, with detail according to ccflags.
//!
//! Rendering is a pure function of the model; sessions diff what they rendered last time
//! against what they render now, which gives IP Office's snapshot semantics (a Notify carries
//! the complete current state; intermediate states may be skipped) without any event log.

use acd_core::QueueServiceMode;

use crate::model::{Call, CallPhase, Model};
use crate::scenario::RingMode;
use acd_wire::pb;
use pb::call_info::{Direction, State};

pub use acd_wire::flags::ccflags;
use acd_wire::flags::queue::MEMBERS as QUEUE_FLAG_MEMBERS;

pub fn lines_users(model: &Model) -> Vec<pb::LinesUser> {
    model
        .users()
        .iter()
        .filter(|u| !u.deleted)
        .map(|u| pb::LinesUser {
            guid: u.guid.clone(),
            extn: u.extn.clone(),
            name: u.name.clone(),
        })
        .collect()
}

pub fn lines_queues(model: &Model) -> Vec<pb::LinesQueue> {
    model
        .queues()
        .iter()
        .filter(|q| !q.deleted)
        .map(|q| pb::LinesQueue {
            guid: q.guid.clone(),
            extn: q.extn.clone(),
            name: q.name.clone(),
        })
        .collect()
}

pub fn notify_user(model: &Model, u: usize) -> Option<pb::NotifyUser> {
    let user = model.users().get(u).filter(|u| !u.deleted)?;
    Some(pb::NotifyUser {
        extn: user.extn.clone(),
        name: user.name.clone(),
        fullname: user.full_name.clone(),
        featuresavailable: crate::model::features::USER_CONFIG as i32,
        language: user.language.clone(),
        dnd: user.dnd,
        fwdu: user.fwdu,
        fwdhg: user.fwdhg,
        fwdtovm: user.fwdu,
        voicemail: user.voicemail,
        loggedinextn: if user.logged_in {
            user.extn.clone()
        } else {
            String::new()
        },
        extnfault: user.phone_fault,
        loggedoff: !user.logged_in,
        ..Default::default()
    })
}

pub fn ring_mode(mode: RingMode) -> i32 {
    // The guide lists 0 = ring idle (longest waiting), 1 = sequential, 2 = group
    // (collective); rotary has no published value, the simulator reports 3.
    match mode {
        RingMode::LongestWaiting => 0,
        RingMode::Sequential => 1,
        RingMode::Collective => 2,
        RingMode::Rotary => 3,
    }
}

pub fn service_mode(mode: QueueServiceMode) -> pb::notify_queue::ServiceMode {
    match mode {
        QueueServiceMode::Active => pb::notify_queue::ServiceMode::Active,
        QueueServiceMode::NightService => pb::notify_queue::ServiceMode::Ns,
        QueueServiceMode::OutOfService => pb::notify_queue::ServiceMode::Oos,
    }
}

pub fn notify_queue(model: &Model, q: usize, flags: i32) -> Option<pb::NotifyQueue> {
    let queue = model.queues().get(q).filter(|q| !q.deleted)?;
    let members = (flags & QUEUE_FLAG_MEMBERS != 0).then(|| pb::QueueMembers {
        member: queue
            .members
            .iter()
            .map(|m| pb::QueueMember {
                extn: model.users()[m.user].extn.clone(),
                disabled: m.disabled,
            })
            .collect(),
    });
    Some(pb::NotifyQueue {
        extn: queue.extn.clone(),
        name: queue.name.clone(),
        ringmode: ring_mode(queue.ring_mode),
        noanswertime: (queue.no_answer_ms / 1000) as i32,
        voicemail: queue.voicemail,
        voicemailtime: queue
            .voicemail_after_ms
            .map(|ms| (ms / 1000) as i32)
            .unwrap_or(0),
        servicemode: service_mode(queue.service_mode) as i32,
        queuemembers: members,
        ..Default::default()
    })
}

/// Does a queue subscription with these ccflags show the call? A function of the call alone,
/// which is what lets a session re-render only the calls that changed.
pub fn queue_shows(call: &Call, q: usize, ccflags_value: i32) -> bool {
    if ccflags_value & ccflags::EPHEMERAL != 0 {
        call.queueing_in(q)
    } else {
        call.report_queue == Some(q) && call.phase != CallPhase::AfterCall
    }
}

fn party(number: &str, name: &str) -> pb::PartyInfo {
    pb::PartyInfo {
        number: number.to_string(),
        name: name.to_string(),
        ..Default::default()
    }
}

/// The `CallInfo` of a call as seen by a queue (`user = None`) or by a user, without the
/// per-subscription callid (the session fills it in).
pub fn call_info(model: &Model, call: &Call, user: Option<usize>, flags: i32) -> pb::CallInfo {
    let users = model.users();
    let queues = model.queues();
    let state = match (call.phase, user) {
        (CallPhase::Queued, _) => State::Queueing,
        (CallPhase::Ringing, _) => State::Ringing,
        (CallPhase::Connected, _) => State::Connected,
        (CallPhase::Voicemail, _) => State::Leavingvoicemailmessage,
        (CallPhase::AfterCall, Some(_)) => State::Aftercallwork,
        (CallPhase::AfterCall, None) => State::Disconnected,
    };
    let features = match user {
        Some(u) => call.user_features(u),
        None => call.queue_features(),
    };
    let report = call.queue.or(call.report_queue).and_then(|q| queues.get(q));
    let mut info = pb::CallInfo {
        state: state as i32,
        direction: Direction::Inbound as i32,
        gcid: call.gcid.clone(),
        featuresavailable: features as i32,
        calledparty: report
            .map(|q| q.extn.clone())
            .unwrap_or_else(|| call.attributes.did.clone()),
        callingparty: Some(pb::PartyInfo {
            number: call.attributes.calling_number.clone(),
            name: call.calling_name.clone(),
            withheld: call.attributes.calling_number.is_empty(),
            ..Default::default()
        }),
        originalcalledparty: report.map(|q| party(&q.extn, &q.name)),
        tag: call.attributes.tag.clone(),
        ..Default::default()
    };
    if let Some(a) = call.agent.and_then(|a| users.get(a)) {
        if user.is_none() {
            info.connectedparty = Some(party(&a.extn, &a.name));
        }
    }
    if flags & ccflags::DEVICES != 0 {
        info.remoteinfo = Some(pb::EndInfo {
            gcid: call.gcid.clone(),
            ..Default::default()
        });
    }
    if flags & ccflags::TRUNK != 0 {
        info.trunkinfo = Some(pb::TrunkInfo {
            trunktype: acd_wire::trunk::to_wire(call.attributes.trunk) as i32,
            did: call.attributes.did.clone(),
        });
    }
    if flags & ccflags::QUEUE_INFO != 0 {
        if let Some(q) = call.queue.and_then(|q| queues.get(q)) {
            info.queueinfo = Some(pb::QueueInfo {
                number: q.extn.clone(),
                name: q.name.clone(),
                priority: i32::from(call.priority),
                ..Default::default()
            });
        }
    }
    if flags & ccflags::LANGUAGE != 0 {
        info.calldata = Some(pb::CallData {
            language: call.attributes.language.clone(),
            ..Default::default()
        });
    }
    if user.is_none()
        && flags & (ccflags::TARGETS | ccflags::TARGETS_SIMULTANEOUS) != 0
        && call.phase == CallPhase::Ringing
    {
        info.targets = Some(pb::Targets {
            target: call
                .ringing
                .iter()
                .filter_map(|&u| users.get(u))
                .map(|u| pb::Target {
                    partyinfo: Some(party(&u.extn, &u.name)),
                })
                .collect(),
        });
    }
    info
}
