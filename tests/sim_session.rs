//! The engine's real MT-CTI3 session (`acd::wire::session::spawn`) against the simulator over
//! its socket: the session subscribes as it does against IP Office, turns notifies into
//! routing-core events, and sends `acd_core::Command`s whose `CommandResult` carries IP
//! Office's result codes. Shows SetPriority reordering, BlindTransfer targets and refusals,
//! Finish (also "report on the next queue"), agents' call appearances, queue administration,
//! wss with a pinned certificate, and the engine riding out every fault.

mod sim_support;

use std::collections::VecDeque;
use std::time::Duration;

use acd::sim::server::{SimHandle, TlsMode};
use acd::wire::backoff::Backoff;
use acd::wire::result_code::ResultCode;
use acd::wire::secret::Secret;
use acd::wire::session::{
    self, LinkStatus, QueueSelector, SessionConfig, SessionEvent, SessionHandle,
    DEFAULT_QUEUE_CCFLAGS,
};
use acd::wire::tls::{Fingerprint, TlsOptions};
use acd_core::{
    AgentId, CallId, Command, CommandId, CommandKind, CommandOutcome, Event, PhoneState, Priority,
    QueueId, QueueServiceMode, ServiceMode, Target,
};
use sim_support::*;
use tokio::sync::mpsc;

fn config(h: &SimHandle, queues: &[&str]) -> SessionConfig {
    let mut c = SessionConfig::new(vec![h.endpoint()], USER, Secret::new(PASSWORD));
    c.protocol.routed_queues = queues
        .iter()
        .map(|q| QueueSelector::Name(q.to_string()))
        .collect();
    c.protocol.request_timeout = WAIT;
    c.protocol.backoff = Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
        jitter: 0.5,
    };
    c
}

fn q(name: &str) -> QueueId {
    QueueId(name.into())
}

fn agent(extn: &str) -> AgentId {
    AgentId(extn.into())
}

/// The daemon's side of a session: commands in, events out, with events not yet asked for
/// kept in arrival order.
struct Engine {
    handle: SessionHandle,
    events: mpsc::Receiver<SessionEvent>,
    backlog: VecDeque<SessionEvent>,
    next_id: u64,
}

impl Engine {
    async fn start(config: SessionConfig, users: usize, queues: usize) -> Engine {
        let (handle, events) = session::spawn(config);
        let mut e = Engine {
            handle,
            events,
            backlog: VecDeque::new(),
            next_id: 0,
        };
        e.subscribed(users, queues).await;
        e
    }

    /// The first event (buffered or new) `pick` accepts; the others stay buffered.
    async fn expect<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&SessionEvent) -> Option<T>,
    ) -> T {
        if let Some(pos) = self.backlog.iter().position(|e| pick(e).is_some()) {
            let ev = self.backlog.remove(pos).unwrap();
            return pick(&ev).unwrap();
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let ev = match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(ev)) => ev,
                Ok(None) => panic!("the session ended while waiting for {what}"),
                Err(_) => panic!("no {what} in time; meanwhile: {:#?}", self.backlog),
            };
            if let Some(t) = pick(&ev) {
                return t;
            }
            self.backlog.push_back(ev);
        }
    }

    async fn core<T>(&mut self, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        self.expect(what, |ev| match ev {
            SessionEvent::Core(e, _) => pick(e),
            SessionEvent::Link(_) => None,
        })
        .await
    }

    async fn subscribed(&mut self, users: usize, queues: usize) {
        self.expect("all subscriptions confirmed", |ev| {
            matches!(ev, SessionEvent::Link(LinkStatus::Subscribed { users: u, queues: q })
                if *u == users && *q == queues)
            .then_some(())
        })
        .await
    }

    /// The next CallQueued in `queue` matching `also`.
    async fn queued(
        &mut self,
        queue: &str,
        also: impl Fn(&acd_core::QueuedCall) -> bool,
    ) -> CallId {
        self.core(&format!("a call queued in {queue}"), |e| match e {
            Event::CallQueued(c) if c.queue.0 == queue && also(c) => Some(c.call),
            _ => None,
        })
        .await
    }

    async fn left(&mut self, call: CallId, queue: &str) {
        self.core(&format!("{call} leaving {queue}"), |e| {
            matches!(e, Event::CallLeftQueue { call: c, queue: q } if *c == call && q.0 == queue)
                .then_some(())
        })
        .await
    }

    async fn command(&mut self, kind: CommandKind) -> CommandOutcome {
        self.next_id += 1;
        let id = CommandId(self.next_id);
        self.handle.send(Command { id, kind }).await.unwrap();
        self.core("the command's result", |e| match e {
            Event::CommandResult { id: i, outcome } if *i == id => Some(*outcome),
            _ => None,
        })
        .await
    }

    fn link_lost(&self) -> bool {
        self.backlog
            .iter()
            .any(|e| matches!(e, SessionEvent::Link(LinkStatus::Disconnected { .. })))
    }
}

fn transfer(call: CallId, target: Target, dial: &str) -> CommandKind {
    CommandKind::Transfer {
        call,
        target,
        dial: dial.into(),
    }
}

fn set_priority(call: CallId, priority: Priority) -> CommandKind {
    CommandKind::SetPriority { call, priority }
}

#[tokio::test]
async fn set_priority_and_blind_transfer_through_the_session() {
    let h = start().await;
    for extn in ["2001", "2002", "2003"] {
        set_dnd(&h, extn, true);
    }
    let mut e = Engine::start(config(&h, &["Support", "Sales"]), 3, 2).await;

    let mut calls = Vec::new();
    for language in ["deu", "eng", "fra"] {
        inject(&h, "Support", language);
        let call = e
            .queued("Support", |c| {
                c.attributes.language == language && c.pbx_priority == 1
            })
            .await;
        calls.push(call);
    }
    let (first, second, third) = (calls[0], calls[1], calls[2]);

    // SetPriority "3" on the last arrival; when Clara is back, it rings her first.
    assert_eq!(
        e.command(set_priority(third, Priority::High)).await,
        CommandOutcome::Success
    );
    e.queued("Support", |c| c.call == third && c.pbx_priority == 3)
        .await;
    set_dnd(&h, "2003", false);
    let ringing = e
        .core("Clara's phone ringing", |ev| match ev {
            Event::CallRinging { call, agent } if agent.0 == "2003" => Some(*call),
            _ => None,
        })
        .await;
    assert_eq!(ringing, third, "the high-priority call is offered first");

    // Transfers the simulator refuses, with IP Office's codes; an unknown call is refused
    // by the session itself with the same code IP Office would give.
    let agent_target = Target::Agent(agent("9999"));
    assert_eq!(
        e.command(transfer(first, agent_target.clone(), "9999"))
            .await,
        CommandOutcome::Failed(612)
    );
    assert_eq!(
        e.command(transfer(first, agent_target.clone(), "")).await,
        CommandOutcome::Failed(608)
    );
    assert_eq!(
        e.command(transfer(first, agent_target, "/abc")).await,
        CommandOutcome::Failed(608)
    );
    assert_eq!(
        e.command(transfer(CallId(9999), Target::Queue(q("Sales")), "3001"))
            .await,
        CommandOutcome::Failed(602)
    );

    // To another queue: the same call (same CallId) leaves Support and queues in Sales.
    assert_eq!(
        e.command(transfer(first, Target::Queue(q("Sales")), "3001"))
            .await,
        CommandOutcome::Success
    );
    e.left(first, "Support").await;
    e.queued("Sales", |c| c.call == first).await;
    // To voicemail.
    assert_eq!(
        e.command(transfer(
            second,
            Target::Voicemail("3002".into()),
            "/102/3002"
        ))
        .await,
        CommandOutcome::Success
    );
    e.left(second, "Support").await;
    // Dropped in Sales.
    assert_eq!(
        e.command(CommandKind::Drop { call: first }).await,
        CommandOutcome::Success
    );
    e.left(first, "Sales").await;
    assert!(!e.link_lost());
    e.handle.shutdown().await;
    h.shutdown().await;
}

#[tokio::test]
async fn finish_through_the_session_ends_reporting_on_every_connection() {
    let h = start().await;
    for extn in ["2001", "2002", "2003"] {
        set_dnd(&h, extn, true);
    }
    // Finish acts on what non-ephemeral subscriptions report.
    let mut c = config(&h, &["Sales", "Support"]);
    c.protocol.queue_ccflags = DEFAULT_QUEUE_CCFLAGS & !(EPHEMERAL as u32);
    let mut e = Engine::start(c, 3, 2).await;
    let mut probe = Probe::connect(&h).await;
    probe.subscribe_queue(1, "Support", 0, PRIMARY).await;

    inject(&h, "Support", "eng");
    let call = e.queued("Support", |_| true).await;
    let shown = probe.calls(1).await.callinfo[0].callid;
    assert_eq!(
        e.command(CommandKind::Finish {
            call,
            report_next: false
        })
        .await,
        CommandOutcome::Success
    );
    e.left(call, "Support").await;
    let cc = probe.calls(1).await;
    assert_eq!(cc.calllost.len(), 1);
    assert_eq!(cc.calllost[0].callid, shown);

    // Finish "1": a call transferred from Sales to Support is reported by Sales until
    // finished there, then at once by Support.
    inject(&h, "Sales", "eng");
    let moved = e.queued("Sales", |_| true).await;
    assert_eq!(
        e.command(transfer(moved, Target::Queue(q("Support")), "3002"))
            .await,
        CommandOutcome::Success
    );
    probe.expect_nothing_pending().await;
    assert_eq!(
        e.command(CommandKind::Finish {
            call: moved,
            report_next: true
        })
        .await,
        CommandOutcome::Success
    );
    e.left(moved, "Sales").await;
    e.queued("Support", |c| c.call == moved).await;
    let cc = probe.calls(1).await;
    assert_eq!(cc.callinfo.len(), 1);
    assert_eq!(cc.callinfo[0].calledparty, "3002");
    e.handle.shutdown().await;
    h.shutdown().await;
}

#[tokio::test]
async fn agents_call_appearances_and_queue_administration_over_pinned_wss() {
    let scenario = SCENARIO.replace(
        "wrap_up = { dist = \"fixed\", s = 0 }",
        "wrap_up = { dist = \"fixed\", s = 10 }",
    );
    let h = start_with(&scenario, |c| c.tls = TlsMode::SelfSigned).await;
    let pin = Fingerprint::parse(h.cert_sha256().unwrap()).unwrap();
    let mut c = config(&h, &["Support"]);
    c.tls = TlsOptions {
        pin_sha256: Some(pin.0),
        ..Default::default()
    };
    let mut e = Engine::start(c, 1, 1).await;
    let phone = |e: &Event, want: PhoneState| {
        matches!(e, Event::AgentChanged(a) if a.agent.0 == "2003" && a.phone == want).then_some(())
    };
    e.core("Clara idle", |ev| phone(ev, PhoneState::Idle)).await;

    // Clara's call appearances: ringing, answered after 5 s, 60 s of talk, 10 s of wrap-up.
    inject(&h, "Support", "eng");
    let call = e.queued("Support", |_| true).await;
    e.core("ringing at Clara", |ev| {
        matches!(ev, Event::CallRinging { call: c, agent } if *c == call && agent.0 == "2003")
            .then_some(())
    })
    .await;
    h.advance(Duration::from_secs(5));
    e.core("answered by Clara", |ev| {
        matches!(ev, Event::CallAnswered { call: c, agent } if *c == call && agent.0 == "2003")
            .then_some(())
    })
    .await;
    e.core("Clara on the call", |ev| phone(ev, PhoneState::OnCall))
        .await;
    h.advance(Duration::from_secs(60));
    e.core("Clara in wrap-up", |ev| {
        phone(ev, PhoneState::AfterCallWork)
    })
    .await;
    h.advance(Duration::from_secs(10));
    e.core("Clara idle again", |ev| phone(ev, PhoneState::Idle))
        .await;

    // UpdateQueue: service mode and members.
    assert_eq!(
        e.command(CommandKind::SetServiceMode {
            queue: q("Support"),
            mode: ServiceMode::NightService
        })
        .await,
        CommandOutcome::Success
    );
    e.core("Support in night service", |ev| {
        matches!(ev, Event::QueueChanged(s) if s.queue.0 == "Support"
            && s.service_mode == QueueServiceMode::NightService)
        .then_some(())
    })
    .await;
    assert_eq!(
        e.command(CommandKind::SetQueueMember {
            queue: q("Support"),
            agent: agent("2001"),
            enabled: false
        })
        .await,
        CommandOutcome::Success
    );
    let members = e
        .core("Anna a disabled member of Support", |ev| match ev {
            Event::QueueChanged(s) if s.queue.0 == "Support" && s.members.len() == 2 => {
                Some(s.members.clone())
            }
            _ => None,
        })
        .await;
    assert!(members.iter().any(|m| m.agent.0 == "2001" && !m.enabled));
    // The session follows the new member as an agent.
    e.core("Anna followed", |ev| {
        matches!(ev, Event::AgentChanged(a) if a.agent.0 == "2001").then_some(())
    })
    .await;
    // An unknown queue is refused by the session (no subscription to send it on).
    assert_eq!(
        e.command(CommandKind::SetServiceMode {
            queue: q("Nowhere"),
            mode: ServiceMode::Active
        })
        .await,
        CommandOutcome::Failed(5003)
    );
    e.handle.shutdown().await;
    h.shutdown().await;
}

#[tokio::test]
async fn the_session_rides_out_every_fault() {
    let h = start().await;
    for extn in ["2001", "2002"] {
        set_dnd(&h, extn, true);
    }
    let mut c = config(&h, &["Sales"]);
    // Short enough for the delayed-response fault to time out within the test.
    c.protocol.request_timeout = Duration::from_secs(2);
    let mut e = Engine::start(c, 2, 1).await;
    inject(&h, "Sales", "eng");
    let call = e.queued("Sales", |c| c.pbx_priority == 1).await;

    // Reject with a given code: the failure reaches the core, the call is unchanged.
    h.faults().reject_commands(ResultCode::RequestFailed, 1);
    assert_eq!(
        e.command(set_priority(call, Priority::Medium)).await,
        CommandOutcome::Failed(5000)
    );

    // Delayed responses: the effect is reported, the acknowledgement never comes in time and
    // the session reports REQUESTTIMEOUT.
    h.faults().delay_responses(Duration::from_secs(60));
    assert_eq!(
        e.command(set_priority(call, Priority::High)).await,
        CommandOutcome::Failed(5001)
    );
    e.queued("Sales", |c| c.call == call && c.pbx_priority == 3)
        .await;
    h.faults().clear();

    // A malformed frame is counted and ignored: commands keep working on the same link.
    h.faults().send_malformed_frame();
    for p in [Priority::Low, Priority::Medium] {
        assert_eq!(
            e.command(set_priority(call, p)).await,
            CommandOutcome::Success
        );
        e.queued("Sales", |c| c.call == call && c.pbx_priority == p.level())
            .await;
    }
    assert!(!e.link_lost());
    assert!(matches!(
        *e.handle.status().borrow(),
        LinkStatus::Subscribed { .. }
    ));

    // SubscribeTerminated: the session subscribes again and gets the call back.
    e.backlog.clear();
    h.faults().terminate_subscriptions();
    let calls = e
        .core("a fresh snapshot of Sales", |ev| match ev {
            Event::QueueSnapshotCalls { queue, calls, .. } if queue.0 == "Sales" => {
                Some(calls.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(calls, vec![call]);
    assert_eq!(
        e.command(set_priority(call, Priority::High)).await,
        CommandOutcome::Success
    );
    assert!(!e.link_lost());

    // Dropped connection, then a restart (every callid changes): each time the session
    // reconnects, subscribes again and the core sees the same call under the same CallId,
    // which commands still reach.
    for restart in [false, true] {
        e.backlog.clear();
        if restart {
            h.faults().restart();
        } else {
            h.faults().drop_connections();
        }
        e.expect("the link lost", |ev| {
            matches!(ev, SessionEvent::Link(LinkStatus::Disconnected { .. })).then_some(())
        })
        .await;
        e.subscribed(2, 1).await;
        let calls = e
            .core("the snapshot after reconnecting", |ev| match ev {
                Event::QueueSnapshotCalls { queue, calls, .. } if queue.0 == "Sales" => {
                    Some(calls.clone())
                }
                _ => None,
            })
            .await;
        assert_eq!(calls, vec![call], "restart: {restart}");
        assert_eq!(
            e.command(set_priority(call, Priority::Low)).await,
            CommandOutcome::Success
        );
        e.queued("Sales", |c| c.call == call && c.pbx_priority == 1)
            .await;
        // Back to 3 for the next round, so the next SetPriority is a visible change.
        assert_eq!(
            e.command(set_priority(call, Priority::High)).await,
            CommandOutcome::Success
        );
    }
    assert_eq!(h.connections(), 1);
    e.handle.shutdown().await;
    h.shutdown().await;
}

/// On the unframed service the session finds the routed queue by name in the Lines table and
/// follows its members as agents.
#[tokio::test]
async fn unframed_session_follows_all_members_of_the_routed_queue() {
    let h = start().await;
    let mut c = config(&h, &["Sales"]);
    c.protocol.framing = acd::wire::framing::Framing::Unframed;
    let mut e = Engine::start(c, 2, 1).await;
    let members = e
        .core("Sales' configuration", |ev| match ev {
            Event::QueueChanged(s) if s.queue.0 == "Sales" => Some(s.clone()),
            _ => None,
        })
        .await;
    assert_eq!(members.extension, "3001");
    let mut extns: Vec<String> = members.members.iter().map(|m| m.agent.0.clone()).collect();
    extns.sort();
    assert_eq!(extns, ["2001", "2002"]);
    for extn in ["2001", "2002"] {
        e.core(&format!("agent {extn}"), |ev| {
            matches!(ev, Event::AgentChanged(a) if a.agent.0 == extn && a.presence.logged_in)
                .then_some(())
        })
        .await;
    }
    e.handle.shutdown().await;
    h.shutdown().await;
}

/// Live-live against a resilient pair over real sockets: one session holds a websocket to the
/// primary and one to the secondary at once. Each system's calls arrive through its own
/// connection (in its own call-id range), a transfer goes down the call's own connection, and
/// when the primary fails the secondary's calls go on being routed with no reconnect.
#[tokio::test]
async fn live_live_routes_each_systems_calls_over_its_own_link_and_survives_the_primary() {
    use acd_core::Site;
    let h = start_with(SCENARIO, |c| {
        c.secondary_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await;
    for extn in ["2001", "2002", "2003"] {
        set_dnd(&h, extn, true);
    }
    let mut c = config(&h, &["Sales"]);
    c.endpoints.push(h.secondary_endpoint().unwrap());
    c.protocol.agents = acd::wire::session::AgentSelector::MembersAnd(vec!["2003".into()]);
    let (handle, events) = session::spawn(c);
    let mut e = Engine {
        handle,
        events,
        backlog: VecDeque::new(),
        next_id: 0,
    };
    // Both links confirm their subscriptions (the merged status reports each).
    e.subscribed(3, 1).await;
    assert_eq!(h.connections(), 2, "one websocket per system, both open");

    h.with_model(|m| m.set_secondary_share(1.0));
    inject(&h, "Sales", "deu");
    let on_secondary = e
        .queued("Sales", |q| q.call.site() == Site::SECONDARY)
        .await;
    h.with_model(|m| m.set_secondary_share(0.0));
    inject(&h, "Sales", "eng");
    let on_primary = e.queued("Sales", |q| q.call.site() == Site::PRIMARY).await;
    assert_ne!(on_secondary, on_primary);

    // The primary fails: its caller is cut off, its link drops; the secondary's link stays.
    h.faults().fail_primary();
    e.expect("the primary's link lost", |ev| {
        matches!(ev, SessionEvent::Link(_)).then_some(())
    })
    .await;
    e.core("the primary's calls held", |ev| {
        matches!(ev, Event::LinkRestarted(Site::PRIMARY)).then_some(())
    })
    .await;
    // A new caller arrives on the secondary, and Clara (not a Sales member, so IP Office does
    // not hunt to her itself) takes it through the secondary's link.
    inject(&h, "Sales", "fra");
    let later = e
        .queued("Sales", |q| {
            q.call.site() == Site::SECONDARY && q.attributes.language == "fra"
        })
        .await;
    set_dnd(&h, "2003", false);
    assert_eq!(
        e.command(transfer(later, Target::Agent(agent("2003")), "2003"))
            .await,
        CommandOutcome::Success,
        "a transfer of a secondary call goes down the secondary's link"
    );
    e.core("Clara's phone ringing", |ev| match ev {
        Event::CallRinging { call, agent } if *call == later && agent.0 == "2003" => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(h.connections(), 1, "only the secondary's link is open");
    h.faults().restore_primary();
    let deadline = tokio::time::Instant::now() + WAIT;
    while h.connections() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the primary is back, and so is its link"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
