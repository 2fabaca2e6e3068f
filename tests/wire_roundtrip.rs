//! Every MT-CTI3 message type survives encode -> frame -> decode unchanged, in both framings,
//! with every field set to a non-default value (a default value would not be on the wire and
//! would prove nothing).

use acd::wire::framing::{self, Framing};
use acd::wire::pb::{self, message::Payload as M};

fn party(n: &str) -> pb::PartyInfo {
    pb::PartyInfo {
        numbertype: 1,
        number: n.into(),
        subaddr: "s".into(),
        name: "Name".into(),
        nametype: 5,
        withheld: true,
        diversionreason: 2,
    }
}

fn absence() -> pb::Absence {
    pb::Absence {
        msg: 3,
        str: "away".into(),
    }
}

fn mailbox() -> pb::Mailbox {
    pb::Mailbox {
        newmessages: 1,
        oldmessages: 2,
        savedmessages: 3,
    }
}

fn end_info() -> pb::EndInfo {
    pb::EndInfo {
        gcid: vec![1, 2, 3],
        deviceclass: 1,
        devicetype: 2,
        deviceinstance: 3,
        teleworker: "tw".into(),
    }
}

fn call_info() -> pb::CallInfo {
    pb::CallInfo {
        callid: 1,
        referencecallid: 2,
        relatedcallid: 3,
        state: pb::call_info::State::Retargeting as i32,
        direction: pb::call_info::Direction::Inbound as i32,
        activeheld: true,
        gcid: vec![9; 12],
        featuresavailable: 0x6060_e0b1,
        calledparty: "300".into(),
        callingparty: Some(party("0301234")),
        connectedparty: Some(party("201")),
        originalcalledparty: Some(party("300")),
        tag: "vip".into(),
        accountcode: "acc".into(),
        mute: true,
        failedcause: pb::call_info::FailedCause::Noresponse as i32,
        featuresavailable2: 7,
        recording: true,
        parkslot: "p1".into(),
        absence: Some(absence()),
        recordingpaused: true,
        pagecall: true,
        remoteinfo: Some(end_info()),
        localinfo: vec![end_info(), end_info()],
        conferencemember: vec![pb::ConferenceMember {
            lref: 1,
            state: 6,
            direction: 1,
            activeheld: true,
            calledparty: "x".into(),
            connectedparty: Some(party("1")),
            mute: true,
            failedcause: 3,
        }],
        dialinfo: Some(pb::DialInfo {
            number: "1".into(),
            calltype: 2,
            withholdcli: true,
            hidenumber: true,
            complete: true,
            madn: "m".into(),
            subaddr: "s".into(),
            allowcli: true,
            explicitcli: "e".into(),
        }),
        trunkinfo: Some(pb::TrunkInfo {
            trunktype: pb::trunk_info::TrunkType::TrunkAlog as i32,
            did: "4930".into(),
        }),
        queueinfo: Some(pb::QueueInfo {
            number: "300".into(),
            name: "Sales".into(),
            priority: 3,
            overflow_number: "301".into(),
            overflow_name: "Support".into(),
        }),
        calldata: Some(pb::CallData {
            language: "deu".into(),
            emergency: true,
            privacy: true,
            secure: true,
            rprivacy: true,
        }),
        notes: Some(pb::Notes { notes: "n".into() }),
        ucid: Some(pb::Ucid { ucid: vec![4, 5] }),
        pintrinsics: Some(pb::PIntrinsics {
            pintrinsics: vec![6],
        }),
        targets: Some(pb::Targets {
            target: vec![pb::Target {
                partyinfo: Some(party("201")),
            }],
        }),
    }
}

fn every_message() -> Vec<pb::Message> {
    use pb::notify::Payload as N;
    use pb::subscribe::Payload as S;
    use pb::subscribe_cmd::Payload as C;
    let notify = |p: N| {
        M::Notify(pb::Notify {
            subscribe_id: 4,
            notify_id: 5,
            label: "l".into(),
            payload: Some(p),
        })
    };
    let subscribe = |p: S| {
        M::Subscribe(pb::Subscribe {
            requestid: 1,
            subscribe_id: 2,
            timeout: 3600,
            label: "l".into(),
            payload: Some(p),
        })
    };
    let cmd = |p: C| {
        M::Subscribecmd(pb::SubscribeCmd {
            requestid: 1,
            subscribe_id: 2,
            payload: Some(p),
        })
    };
    let presentity = pb::Presentity {
        presentity: "201".into(),
        lref: 1,
    };
    let member = pb::QueueMember {
        extn: "201".into(),
        disabled: true,
    };
    let lines_user = pb::LinesUser {
        guid: vec![1; 16],
        extn: "201".into(),
        name: "A".into(),
    };
    let lines_queue = pb::LinesQueue {
        guid: vec![2; 16],
        extn: "300".into(),
        name: "Q".into(),
    };
    let shortcode = pb::ShortCodeData {
        code: 1,
        val: "v".into(),
        onbehalf: "o".into(),
    };
    let payloads = vec![
        M::Response(pb::RequestResponse {
            requestid: 1,
            result: 612,
            additional: "a".into(),
        }),
        M::Generalcmd(pb::GeneralCmd {
            requestid: 1,
            payload: Some(pb::general_cmd::Payload::Getfile(pb::GetFile {
                cmdinst: 1,
                fname: "f".into(),
            })),
        }),
        M::Generaldata(pb::GeneralData {
            responseid: 1,
            payload: Some(pb::general_data::Payload::Getfile(pb::GetFileResponse {
                cmdinst: 1,
                fname: "f".into(),
                result: 2,
                payload: vec![1, 2],
            })),
        }),
        subscribe(S::Presence(pb::SubscribePresence {
            entry: vec![presentity.clone()],
            flags: 2,
        })),
        subscribe(S::Lines(pb::SubscribeLines { flags: 7 })),
        subscribe(S::User(pb::SubscribeUser {
            guid: vec![1; 16],
            flags: 1,
            ccflags: 0x99,
        })),
        subscribe(S::Queue(pb::SubscribeQueue {
            guid: vec![2; 16],
            flags: 2,
            ccflags: 0x4004_0041,
            name: "Sales".into(),
        })),
        subscribe(S::Parkserver(pb::SubscribeParkServer {
            flags: 1,
            ccflags: 1,
        })),
        subscribe(S::Refreshwrapper(pb::SubscribeRefreshWrapper { dummy: 1 })),
        cmd(C::Timeout(3600)),
        cmd(C::Presence(pb::UpdatePresence {
            add: vec![presentity.clone()],
            remove: vec![presentity.clone()],
        })),
        cmd(C::Callcontrol(pb::UpdateCallControl {
            callid: 1,
            referencecallid: 2,
            makecall: Some(pb::MakeCall {
                target: "2001".into(),
                r#type: 1,
                advanced: Some(pb::AdvancedMakeCall {
                    accountcode: "a".into(),
                    authcode: "b".into(),
                    tag: "t".into(),
                    subaddr: "s".into(),
                    withholdcli: true,
                    privacy: true,
                    madn: "m".into(),
                    allowcli: true,
                    explicitcli: "e".into(),
                    proxyorigin: "p".into(),
                }),
            }),
            callfunction: Some(pb::CallFunction {
                action: pb::call_function::Action::BlindTransfer as i32,
                arg1: "2001".into(),
                shortcodedata: Some(shortcode.clone()),
                memberfunctiondata: Some(pb::MemberFunctionData { lref: 1, action: 2 }),
                callinst: vec![pb::CallInstance {
                    callid: 1,
                    referencecallid: 2,
                }],
                agentrecording: Some(pb::AgentRecordingControl {
                    pause: true,
                    resume: true,
                }),
                tapimoh: true,
            }),
            unparkcall: Some(pb::UnParkCall { parkid: "p".into() }),
            devicehint: 2,
        })),
        cmd(C::User(pb::UpdateUser {
            sac: Some(pb::UpdateUserSac { set: 1 }),
            absence: Some(pb::UpdateUserAbsence {
                set: 1,
                absence: Some(absence()),
            }),
            ec500: Some(pb::UpdateUserEc500 { set: 1 }),
            shortcodedata: vec![shortcode],
            loginextn: Some(pb::UpdateUserLoginExtn {
                extn: "201".into(),
                password: "1234".into(),
                teleworkerconnection: Some(pb::TeleworkerConnection {
                    number: "n".into(),
                    holdlineopen: true,
                    testconnection: 1,
                }),
            }),
            app: Some(pb::UpdateUserApp {
                value: "v".into(),
                makelive: true,
                makedead: true,
            }),
            fwdu: Some(pb::UpdateUserFwdU {
                set: true,
                fwdu_number: "1".into(),
                fwdtovm: true,
            }),
        })),
        cmd(C::Queue(pb::UpdateQueue {
            setservicemode: Some(pb::SetServiceMode { servicemode: 3 }),
            setvoicemail: Some(pb::SetVoicemail { enabled: true }),
            members: Some(pb::QueueMembers {
                member: vec![member.clone()],
            }),
            addmember: vec![member.clone()],
            deletemember: vec![member.clone()],
        })),
        M::Subscribeend(pb::SubscribeEnd {
            requestid: 1,
            subscribe_id: 2,
            reason: "r".into(),
        }),
        M::Subscribeterminated(pb::SubscribeTerminated {
            subscribe_id: 2,
            reason: "r".into(),
        }),
        M::Notifyack(pb::NotifyAck {
            subscribe_id: 2,
            notify_id: 3,
        }),
        notify(N::Presence(pb::NotifyPresence {
            full: 1,
            entry: vec![pb::NotifyPresentity {
                presentity: "201".into(),
                lref: 1,
                sac: true,
                phonestate: 2,
                absence: Some(absence()),
                app: "a".into(),
                fwdu: true,
                vmunread_messages: 3,
                noapphandler: true,
            }],
        })),
        notify(N::Callcontrol(pb::NotifyCallControl {
            refreshinstance: 1,
            callinfo: vec![call_info()],
            calllost: vec![pb::CallLost {
                callid: 1,
                referencecallid: 2,
                reason: 3,
                thisenddropped: true,
                description: "d".into(),
            }],
        })),
        notify(N::Lines(pb::NotifyLines {
            flags: 1,
            adduser: vec![lines_user.clone()],
            addqueue: vec![lines_queue.clone()],
            deleteuser: vec![lines_user.clone()],
            deletequeue: vec![lines_queue.clone()],
            changeuser: vec![lines_user],
            changequeue: vec![lines_queue],
        })),
        notify(N::User(pb::NotifyUser {
            extn: "201".into(),
            name: "n".into(),
            fullname: "f".into(),
            katakananame: "k".into(),
            email: "e".into(),
            featuresavailable: 0x3ff,
            language: "deu".into(),
            dnd: true,
            barred: true,
            xdirectory: true,
            voicemail: true,
            loggedinextn: "201".into(),
            extnfault: true,
            loggedoff: true,
            absence: Some(absence()),
            mailbox: Some(mailbox()),
            app: "a".into(),
            noapphandler: true,
            ec500: true,
            fwdu: true,
            fwdb: true,
            fwdna: true,
            fwdhg: true,
            fwdunumber: "1".into(),
            fwdbnumber: "2".into(),
            fwdtovm: true,
            offswitch: true,
        })),
        notify(N::Queue(pb::NotifyQueue {
            extn: "300".into(),
            name: "Sales".into(),
            katakananame: "k".into(),
            email: "e".into(),
            ringmode: 1,
            noanswertime: 15,
            voicemail: true,
            voicemailtime: 30,
            servicemode: 2,
            queuemembers: Some(pb::QueueMembers {
                member: vec![member],
            }),
            mailbox: Some(mailbox()),
        })),
        notify(N::Parkserver(pb::NotifyParkServer { dummy: 1 })),
        notify(N::Refreshwrapper(pb::NotifyRefreshWrapper { dummy: 1 })),
    ];
    payloads
        .into_iter()
        .map(|p| pb::Message { payload: Some(p) })
        .collect()
}

#[test]
fn every_message_type_round_trips_in_both_framings() {
    let messages = every_message();
    // 6 plain envelope payloads + 6 Subscribe kinds + 5 SubscribeCmd kinds + 7 Notify kinds.
    assert_eq!(messages.len(), 24);
    for msg in &messages {
        for framing in [Framing::Framed, Framing::Unframed] {
            let bytes = framing::encode(msg, framing);
            let back = framing::decode(&bytes, framing, 1 << 20).unwrap();
            assert_eq!(&back, msg, "{framing:?}");
        }
    }
}

#[test]
fn every_message_type_decodes_to_json() {
    for msg in every_message() {
        let bytes = framing::encode(&msg, Framing::Framed);
        let json = acd::wire::decode::decode_to_json(&bytes).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(v["message"].is_object(), "{json}");
    }
}

#[test]
fn unknown_fields_do_not_fail_decoding() {
    // A GeneralCmd with an unpublished field number (getversioninfo): decoded, not rejected.
    // Message{generalcmd(2){requestid(1)=3, field 9 (varint)=1}}.
    let inner = [0x08, 0x03, 0x48, 0x01];
    let mut bytes = vec![0x12, inner.len() as u8];
    bytes.extend_from_slice(&inner);
    let msg = framing::decode(&bytes, Framing::Unframed, 1024).unwrap();
    assert!(matches!(
        msg.payload,
        Some(M::Generalcmd(pb::GeneralCmd { requestid: 3, .. }))
    ));
}
