//! What `acd demo` shows an operator: ten minutes of the callers' time on the embedded
//! simulator, the engine on the simulator's clock. Before the engine shared that clock, its
//! wrap-up and step timers ran ten times too slow for the callers and a third of them hung up.

use acd::daemon::demo::{demo, DemoOptions};
use std::net::SocketAddr;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_demo_minutes_serve_callers_as_the_engine_would() {
    let summary = demo(DemoOptions {
        duration: Duration::from_secs(30),
        metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: None,
        rules_dir: None,
        scenario: None,
        speed: 20.0,
        live: false,
    })
    .await
    .unwrap();
    // The example rules define Billing, which the default scenario's IP Office lacks: it is
    // flagged, not listed as a queue with no calls.
    assert_eq!(
        summary.not_in_ip_office,
        vec!["Billing: not in IP Office — no calls can reach it".to_string()]
    );
    assert!(
        !summary.engine.queues.contains_key("Billing"),
        "{summary:?}"
    );
    let (mut offered, mut answered, mut abandoned) = (0, 0, 0);
    for q in summary.engine.queues.values() {
        offered += q.offered;
        answered += q.answered;
        abandoned += q.abandoned;
    }
    assert!(offered >= 10, "a demo with callers: {summary:?}");
    assert!(answered > 0, "{summary:?}");
    // Twelve agents for ~160 calls an hour: nobody should need to give up.
    assert!(
        abandoned * 10 <= offered,
        "{abandoned} of {offered} callers abandoned: {:?}",
        summary.engine
    );
    // The engine's account agrees with the simulator's, and both ran on one clock.
    assert_eq!(answered, summary.simulator.totals.answered, "{summary:?}");
    let (engine_s, sim_s) = (summary.engine_seconds, summary.simulator.virtual_seconds);
    assert!(
        (engine_s - sim_s).abs() <= sim_s * 0.05,
        "engine clock {engine_s} s, simulator {sim_s} s: not one clock"
    );
}
