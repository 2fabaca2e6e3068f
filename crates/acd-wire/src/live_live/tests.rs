use super::*;
use acd_core::{CallId, CommandId, PhoneState, Presence, Target};

const T0: Timestamp = Timestamp(1_000);

fn pair() -> LiveLive {
    let mut live = LiveLive::new(
        ConnectionConfig::default(),
        vec!["wss://primary".into(), "wss://secondary".into()],
        3,
    );
    drain(&mut live);
    live
}

fn drain(live: &mut LiveLive) -> Vec<(Site, ConnectionEvent)> {
    std::iter::from_fn(|| live.poll_event()).collect()
}

fn report(agent: &str, dnd: bool) -> ConnectionEvent {
    ConnectionEvent::Core(Event::AgentChanged(AgentSnapshot {
        agent: AgentId::from(agent),
        name: agent.into(),
        presence: Presence {
            logged_in: true,
            dnd,
            phone_fault: false,
            forwarded: false,
        },
        phone: PhoneState::Idle,
    }))
}

/// The agent reports the core heard: (system, agent, dnd).
fn heard(live: &mut LiveLive) -> Vec<(u8, String, bool)> {
    drain(live)
        .into_iter()
        .filter_map(|(site, ev)| match ev {
            ConnectionEvent::Core(Event::AgentChanged(s)) => {
                Some((site.0, s.agent.0, s.presence.dnd))
            }
            _ => None,
        })
        .collect()
}

fn link(live: &mut LiveLive, i: usize, status: LinkStatus) {
    live.merge(i, ConnectionEvent::Link(status));
}

#[test]
fn the_primary_describes_agents_and_the_secondary_takes_over_when_it_drops() {
    let mut live = pair();
    live.merge(1, report("201", true));
    assert_eq!(
        heard(&mut live),
        vec![(1, "201".into(), true)],
        "only the secondary knows 201 yet"
    );
    live.merge(0, report("201", false));
    assert_eq!(
        heard(&mut live),
        vec![(0, "201".into(), false)],
        "the primary wins"
    );
    live.merge(1, report("201", true));
    assert!(
        heard(&mut live).is_empty(),
        "the secondary disagrees: the primary still wins"
    );

    link(
        &mut live,
        0,
        LinkStatus::Disconnected {
            reason: "primary down".into(),
        },
    );
    assert_eq!(
        heard(&mut live),
        vec![(1, "201".into(), true)],
        "the primary's link is gone: the secondary's last report describes the agent at once"
    );
    live.merge(1, report("201", false));
    assert_eq!(heard(&mut live), vec![(1, "201".into(), false)]);

    link(
        &mut live,
        0,
        LinkStatus::Connected {
            endpoint: "wss://primary".into(),
        },
    );
    assert!(
        heard(&mut live).is_empty(),
        "nothing new until the primary reports"
    );
    live.merge(0, report("201", true));
    assert_eq!(
        heard(&mut live),
        vec![(0, "201".into(), true)],
        "back: the primary wins again"
    );
}

#[test]
fn an_agent_only_the_dropped_system_reported_keeps_its_state_until_reported() {
    let mut live = pair();
    live.merge(0, report("202", false));
    heard(&mut live);
    link(
        &mut live,
        0,
        LinkStatus::Disconnected {
            reason: "down".into(),
        },
    );
    assert!(heard(&mut live).is_empty());
    live.merge(1, report("202", true));
    assert_eq!(heard(&mut live), vec![(1, "202".into(), true)]);
}

#[test]
fn a_removal_by_the_secondary_does_not_remove_an_agent_the_primary_reports() {
    let mut live = pair();
    live.merge(0, report("203", false));
    live.merge(1, report("203", false));
    drain(&mut live);
    live.merge(
        1,
        ConnectionEvent::Core(Event::AgentRemoved(AgentId::from("203"))),
    );
    // The primary's link is not up in this test, so its word cannot be checked: the removal
    // stands only when no earlier system that is up still reports the user.
    let removed: Vec<_> = drain(&mut live)
        .into_iter()
        .filter(|(_, e)| matches!(e, ConnectionEvent::Core(Event::AgentRemoved(_))))
        .collect();
    assert_eq!(removed.len(), 1);
    live.merge(
        0,
        ConnectionEvent::Core(Event::AgentRemoved(AgentId::from("203"))),
    );
    assert_eq!(drain(&mut live).len(), 1, "the primary's removal is final");
}

#[test]
fn commands_about_a_call_go_to_the_system_it_queues_on() {
    let mut live = pair();
    // Neither link is up: each system's own connection answers "not connected", which shows
    // where the command went by the call id in the result.
    let secondary_call = Site::SECONDARY.first_call();
    for (id, call) in [(1, CallId(5)), (2, secondary_call)] {
        live.handle_command(
            T0,
            Command {
                id: CommandId(id),
                kind: CommandKind::Transfer {
                    call,
                    target: Target::Agent(AgentId::from("201")),
                    dial: "201".into(),
                },
            },
        );
    }
    let results: Vec<(u8, u64)> = drain(&mut live)
        .into_iter()
        .filter_map(|(site, e)| match e {
            ConnectionEvent::Core(Event::CommandResult { id, .. }) => Some((site.0, id.0)),
            _ => None,
        })
        .collect();
    assert_eq!(results, vec![(0, 1), (1, 2)]);
}

#[test]
fn one_endpoint_is_one_connection_that_asks_for_its_socket() {
    let mut live = LiveLive::new(ConnectionConfig::default(), vec!["wss://pbx".into()], 1);
    assert_eq!(live.sites(), 1);
    let connects: Vec<_> = drain(&mut live)
        .into_iter()
        .filter(|(_, e)| matches!(e, ConnectionEvent::Connect { endpoint: 0 }))
        .collect();
    assert_eq!(connects.len(), 1);
    live.connected(T0, Site::PRIMARY);
    assert!(drain(&mut live).iter().any(|(_, e)| matches!(
        e,
        ConnectionEvent::Core(Event::LinkRestarted(Site::PRIMARY))
    )));
}
