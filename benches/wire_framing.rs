//! Cost of the wire layer per notify: encoding and decoding one framed MT-CTI3 message carrying
//! a typical queue `CallInfo` (calling party, queue info, call data, trunk info, targets), and
//! decoding plus translating it into routing-core events, which is what the session does for
//! every notify it ingests.
//!
//! Run: `cargo bench --bench wire_framing`

use acd_core::Timestamp;
use std::hint::black_box;

use acd::wire::framing::{decode, encode, Framing, DEFAULT_MAX_FRAME_BYTES};
use acd::wire::pb;
use acd::wire::translate::Translator;
use acd_core::QueueId;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// A call ringing one agent from a hunt group, as a queue subscription with the default
/// ccflags (trunk, queue info, language, targets) reports it.
fn queue_call_notify(callid: i32) -> pb::Message {
    let party = |number: &str, name: &str| pb::PartyInfo {
        number: number.to_string(),
        name: name.to_string(),
        ..Default::default()
    };
    let gcid = [0x01, 0xC0, 0xA8, 0x2A, 0, 0, 0x12, 0x34].to_vec();
    let info = pb::CallInfo {
        callid,
        state: pb::call_info::State::Ringing as i32,
        direction: pb::call_info::Direction::Inbound as i32,
        gcid: gcid.clone(),
        featuresavailable: 0x6060_E0B1,
        calledparty: "3001".into(),
        callingparty: Some(party("+4930555084461", "Erika Mustermann")),
        originalcalledparty: Some(party("3001", "Sales")),
        tag: "vip".into(),
        remoteinfo: Some(pb::EndInfo {
            gcid,
            ..Default::default()
        }),
        trunkinfo: Some(pb::TrunkInfo {
            trunktype: pb::trunk_info::TrunkType::TrunkSip as i32,
            did: "+493012340001".into(),
        }),
        queueinfo: Some(pb::QueueInfo {
            number: "3001".into(),
            name: "Sales".into(),
            priority: 2,
            ..Default::default()
        }),
        calldata: Some(pb::CallData {
            language: "deu".into(),
            ..Default::default()
        }),
        targets: Some(pb::Targets {
            target: vec![pb::Target {
                partyinfo: Some(party("2001", "Anna Weber")),
            }],
        }),
        ..Default::default()
    };
    pb::Message {
        payload: Some(pb::message::Payload::Notify(pb::Notify {
            subscribe_id: 7,
            notify_id: 4242,
            label: String::new(),
            payload: Some(pb::notify::Payload::Callcontrol(pb::NotifyCallControl {
                callinfo: vec![info],
                ..Default::default()
            })),
        })),
    }
}

fn framing(c: &mut Criterion) {
    let msg = queue_call_notify(1001);
    let bytes = encode(&msg, Framing::Framed);
    let mut group = c.benchmark_group("wire_framing");
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("encode_queue_callinfo_{}B", bytes.len()), |b| {
        b.iter(|| encode(black_box(&msg), Framing::Framed))
    });
    group.bench_function(format!("decode_queue_callinfo_{}B", bytes.len()), |b| {
        b.iter(|| decode(black_box(&bytes), Framing::Framed, DEFAULT_MAX_FRAME_BYTES))
    });
    group.bench_function("decode_and_translate_queue_callinfo", |b| {
        let mut translator = Translator::new();
        translator.add_queue(7, QueueId::from("Sales"));
        let now = Timestamp::from_millis(1_000);
        b.iter(|| {
            let Ok(pb::Message {
                payload: Some(pb::message::Payload::Notify(notify)),
            }) = decode(black_box(&bytes), Framing::Framed, DEFAULT_MAX_FRAME_BYTES)
            else {
                return 0;
            };
            translator.notify(&notify, now).len()
        })
    });
    group.finish();
}

criterion_group!(benches, framing);
criterion_main!(benches);
