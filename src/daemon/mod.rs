//! The daemon: ties the wire session, the routing core and the rules store together and makes
//! the result observable (metrics, health, logs) and operable (signals, config file).

pub mod clock;
pub mod config;
pub mod demo;
pub mod demo_comparison;
pub mod engine_lock;
pub mod example_rules;
pub mod http;
pub mod leadership;
pub mod log_limit;
pub mod logging;
pub mod pbx_link;
pub mod routing_loop;
pub mod rules_manager;
pub mod rules_watch;
pub mod rules_worker;
pub mod runtime;
pub mod serve;
pub mod signals;
pub mod store_health;
pub mod telemetry;
