//! What `acd demo` shows an operator: twenty minutes of the callers' time on the embedded
//! simulator, the engine on the simulator's clock, then IP Office's own hunt groups on the same
//! callers beside it. Before the engine shared that clock, its wrap-up and step timers ran ten
//! times too slow for the callers and a third of them hung up; before issue 25 the demo showed
//! no native side at all, and its example rules lost to it.

use acd::daemon::demo::{demo, DemoOptions};
use std::net::SocketAddr;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_demo_minutes_serve_callers_as_the_engine_would() {
    let summary = demo(DemoOptions {
        duration: Duration::from_secs(20),
        metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: None,
        rules_dir: None,
        scenario: None,
        speed: 60.0,
        live: false,
    })
    .await
    .unwrap();
    // The example rules route only queues the demo's IP Office has.
    assert!(summary.not_in_ip_office.is_empty(), "{summary:?}");
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

    // Beside it, IP Office alone on the same callers: as configured, and the best set-up.
    let c = &summary.comparison;
    assert_eq!(c.sides.len(), 3, "{c:?}");
    for side in &c.sides {
        assert_eq!(
            side.offered, summary.simulator.totals.offered,
            "every side meets the same callers: {c:?}"
        );
    }
    assert!(c.native_set_ups_tried > 4, "{c:?}");
    // What the engine is for: callers answered in their own language far more often than
    // hunt groups that ring whoever is free.
    let (engine, native) = (&c.sides[0], &c.sides[1]);
    let lang = |s: &acd::daemon::demo_comparison::DemoSide| s.language_match_pct.unwrap_or(0.0);
    assert!(
        lang(engine) > lang(native) + 5.0,
        "language match: engine {:?}, native {:?}",
        engine.language_match_pct,
        native.language_match_pct
    );
}
