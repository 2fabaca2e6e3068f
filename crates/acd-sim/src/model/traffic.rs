//! Where callers come from: seeded Poisson arrivals per queue, and replayed trace files.
//!
//! Each queue draws its arrivals and every caller attribute (talk time, patience, language…)
//! from its own random stream at arrival time. So two runs with the same seed offer exactly the
//! same callers whatever the routing does: a routing comparison is not muddied by luck.

use std::collections::HashMap;
use std::path::Path;

use acd_core::{CallAttributes, Millis, Timestamp, TrunkKind};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::hunt::NewCall;
use super::{Ev, Model, SimCallId};
use crate::dist::{seconds_to_ms, Dist};
use crate::error::SimError;
use crate::scenario::{parse_trunk, TrafficSpec, Weighted};

pub(super) struct Traffic {
    /// Mean gap between arrivals in ms (`None`: no Poisson arrivals).
    mean_gap_ms: Option<f64>,
    talk: Dist,
    patience: Dist,
    pub(super) wrap_up: Option<Dist>,
    languages: Vec<Weighted>,
    dids: Vec<Weighted>,
    tags: Vec<Weighted>,
    trunk: TrunkKind,
    calling_prefix: String,
    high_priority_share: f64,
    /// IP Office incoming call routes that give calls on a DID their priority.
    did_priority: std::collections::BTreeMap<String, u8>,
    rng: ChaCha8Rng,
}

impl Traffic {
    pub(super) fn new(spec: &TrafficSpec, rng: ChaCha8Rng) -> Result<Traffic, SimError> {
        let trunk = parse_trunk(&spec.trunk)
            .ok_or_else(|| SimError::Scenario(format!("unknown trunk '{}'", spec.trunk)))?;
        Ok(Traffic {
            mean_gap_ms: (spec.calls_per_hour > 0.0).then(|| 3_600_000.0 / spec.calls_per_hour),
            talk: spec.talk.clone(),
            patience: spec.patience.clone(),
            wrap_up: spec.wrap_up.clone(),
            languages: spec.languages.clone(),
            dids: spec.dids.clone(),
            tags: spec.tags.clone(),
            trunk,
            calling_prefix: spec.calling_prefix.clone(),
            high_priority_share: spec.high_priority_share,
            did_priority: spec.did_priority.clone(),
            rng,
        })
    }

    /// Draws the next caller; the order of draws is fixed so runs are reproducible.
    fn draw(&mut self) -> NewCall {
        let rng = &mut self.rng;
        let talk_ms = self.talk.sample(rng).unwrap_or(0);
        let patience_ms = self.patience.sample(rng);
        let language = pick(&self.languages, rng);
        let did = pick(&self.dids, rng);
        let tag = pick(&self.tags, rng);
        let number = format!(
            "{}{:06}",
            self.calling_prefix,
            rng.random_range(0..1_000_000)
        );
        let drawn = if rng.random::<f64>() < self.high_priority_share {
            3
        } else {
            1
        };
        // The incoming call route's priority, as IP Office sets it before the call queues.
        let priority = self.did_priority.get(&did).copied().unwrap_or(drawn);
        NewCall {
            attributes: CallAttributes {
                calling_number: number,
                did,
                trunk: self.trunk,
                language,
                tag,
            },
            calling_name: String::new(),
            priority,
            talk_ms,
            patience_ms,
        }
    }
}

fn pick(list: &[Weighted], rng: &mut ChaCha8Rng) -> String {
    let total: f64 = list.iter().map(|w| w.weight).sum();
    if list.is_empty() || total <= 0.0 {
        return String::new();
    }
    let mut x = rng.random::<f64>() * total;
    for w in list {
        if x < w.weight {
            return w.value.clone();
        }
        x -= w.weight;
    }
    list.last().map(|w| w.value.clone()).unwrap_or_default()
}

/// One line of a trace file. Fields left empty are drawn from the queue's traffic settings.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TraceCall {
    pub at: Timestamp,
    pub queue: usize,
    pub calling_number: Option<String>,
    pub did: Option<String>,
    pub language: Option<String>,
    pub tag: Option<String>,
    pub trunk: Option<TrunkKind>,
    pub priority: Option<u8>,
    pub talk_ms: Option<Millis>,
    pub patience_ms: Option<Millis>,
}

const TRACE_COLUMNS: [&str; 10] = [
    "at_s",
    "queue",
    "calling_number",
    "did",
    "language",
    "tag",
    "trunk",
    "priority",
    "talk_s",
    "patience_s",
];

/// Reads a CSV trace: a header naming the columns (any order, `at_s` and `queue` required),
/// then one call per line. No quoting: fields must not contain commas.
pub(super) fn load_trace(
    path: &Path,
    queues: &HashMap<String, usize>,
) -> Result<Vec<TraceCall>, SimError> {
    let text = std::fs::read_to_string(path).map_err(|source| SimError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_trace(&text, queues).map_err(|(line, message)| SimError::Trace {
        path: path.to_path_buf(),
        line,
        message,
    })
}

fn parse_trace(
    text: &str,
    queues: &HashMap<String, usize>,
) -> Result<Vec<TraceCall>, (usize, String)> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let (hline, header) = lines.next().ok_or((1, "empty trace file".to_string()))?;
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    for c in &columns {
        if !TRACE_COLUMNS.contains(c) {
            return Err((hline, format!("unknown column '{c}'")));
        }
    }
    for required in ["at_s", "queue"] {
        if !columns.contains(&required) {
            return Err((hline, format!("missing column '{required}'")));
        }
    }
    let mut out = Vec::new();
    for (n, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != columns.len() {
            return Err((
                n,
                format!("{} fields, header has {}", fields.len(), columns.len()),
            ));
        }
        let get = |name: &str| {
            columns
                .iter()
                .position(|c| *c == name)
                .map(|i| fields[i])
                .filter(|v| !v.is_empty())
        };
        let seconds = |name: &str| -> Result<Option<Millis>, (usize, String)> {
            match get(name) {
                None => Ok(None),
                Some(v) => match v.parse::<f64>() {
                    Ok(s) if s.is_finite() && s >= 0.0 => Ok(Some(seconds_to_ms(s))),
                    _ => Err((n, format!("{name}: '{v}' is not a number of seconds"))),
                },
            }
        };
        let at = seconds("at_s")?.ok_or((n, "at_s is empty".to_string()))?;
        let qname = get("queue").ok_or((n, "queue is empty".to_string()))?;
        let queue = *queues
            .get(qname)
            .ok_or((n, format!("unknown queue '{qname}'")))?;
        let trunk = match get("trunk") {
            None => None,
            Some(t) => Some(parse_trunk(t).ok_or((n, format!("unknown trunk '{t}'")))?),
        };
        let priority = match get("priority") {
            None => None,
            Some(p) => match p.parse::<u8>() {
                Ok(v @ 1..=3) => Some(v),
                _ => return Err((n, format!("priority '{p}' is not 1, 2 or 3"))),
            },
        };
        out.push(TraceCall {
            at: Timestamp(at),
            queue,
            calling_number: get("calling_number").map(str::to_string),
            did: get("did").map(str::to_string),
            language: get("language").map(str::to_string),
            tag: get("tag").map(str::to_string),
            trunk,
            priority,
            talk_ms: seconds("talk_s")?,
            patience_ms: seconds("patience_s")?,
        });
    }
    Ok(out)
}

/// Talk time for a traced call on a queue without traffic settings.
const TRACE_DEFAULT_TALK_MS: Millis = 180_000;

impl Model {
    pub(super) fn schedule_next_arrival(&mut self, q: usize) {
        let Some(t) = self.queues.get_mut(q).and_then(|q| q.traffic.as_mut()) else {
            return;
        };
        let Some(mean) = t.mean_gap_ms else { return };
        let u: f64 = t.rng.random();
        let gap = (-mean * (1.0 - u).ln()).round() as Millis;
        self.events.schedule(self.now.plus(gap), Ev::Arrival(q));
    }

    pub(super) fn poisson_arrival(&mut self, q: usize) {
        let Some(t) = self.queues.get_mut(q).and_then(|q| q.traffic.as_mut()) else {
            return;
        };
        let new = t.draw();
        self.schedule_next_arrival(q);
        self.create_call(q, new);
    }

    pub(super) fn trace_arrival(&mut self, i: usize) {
        let Some(tc) = self.trace.get(i).cloned() else {
            return;
        };
        let mut new = match self
            .queues
            .get_mut(tc.queue)
            .and_then(|q| q.traffic.as_mut())
        {
            Some(t) => t.draw(),
            None => NewCall {
                attributes: CallAttributes::default(),
                calling_name: String::new(),
                priority: 1,
                talk_ms: TRACE_DEFAULT_TALK_MS,
                patience_ms: None,
            },
        };
        let a = &mut new.attributes;
        if let Some(v) = tc.calling_number {
            a.calling_number = v;
        }
        if let Some(v) = tc.did {
            a.did = v;
        }
        if let Some(v) = tc.language {
            a.language = v;
        }
        if let Some(v) = tc.tag {
            a.tag = v;
        }
        if let Some(v) = tc.trunk {
            a.trunk = v;
        }
        if let Some(v) = tc.priority {
            new.priority = v;
        }
        if let Some(v) = tc.talk_ms {
            new.talk_ms = v;
        }
        if tc.patience_ms.is_some() {
            new.patience_ms = tc.patience_ms;
        }
        self.create_call(tc.queue, new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues() -> HashMap<String, usize> {
        HashMap::from([("Sales".to_string(), 0), ("Support".to_string(), 1)])
    }

    #[test]
    fn parses_a_trace_with_optional_columns() {
        let text = "# comment\nat_s,queue,language,talk_s\n0.5,Sales,deu,60\n10,Support,,\n";
        let t = parse_trace(text, &queues()).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].at, Timestamp(500));
        assert_eq!(t[0].language.as_deref(), Some("deu"));
        assert_eq!(t[0].talk_ms, Some(60_000));
        assert_eq!(t[1].queue, 1);
        assert_eq!(t[1].language, None);
    }

    #[test]
    fn trace_errors_name_the_line() {
        let err = parse_trace("at_s,queue\n1,Nowhere\n", &queues()).unwrap_err();
        assert_eq!(err.0, 2);
        assert!(err.1.contains("Nowhere"));
        assert!(parse_trace("queue\nSales\n", &queues()).is_err());
        assert!(parse_trace("at_s,queue,colour\n", &queues()).is_err());
        assert!(parse_trace("at_s,queue\n-1,Sales\n", &queues()).is_err());
        assert!(parse_trace("at_s,queue,priority\n1,Sales,7\n", &queues()).is_err());
    }
}

/// A call placed by hand (tests, demos): everything the traffic generator would draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedCall {
    pub attributes: CallAttributes,
    /// IP Office queue priority, 1 (low) to 3 (high).
    pub priority: u8,
    pub talk_ms: Millis,
    /// `None`: the caller never hangs up while waiting.
    pub patience_ms: Option<Millis>,
}

impl Model {
    /// Places a call into `queue` now, as if it had just arrived from a trunk.
    pub fn inject_call(&mut self, queue: &str, call: InjectedCall) -> Result<SimCallId, SimError> {
        let q = self
            .queue_by_name(queue)
            .ok_or_else(|| SimError::Scenario(format!("no queue named {queue}")))?;
        if !(1..=3).contains(&call.priority) {
            return Err(SimError::Scenario(format!(
                "priority {} is not 1, 2 or 3",
                call.priority
            )));
        }
        let id = self.create_call(
            q,
            NewCall {
                attributes: call.attributes,
                calling_name: String::new(),
                priority: call.priority,
                talk_ms: call.talk_ms,
                patience_ms: call.patience_ms,
            },
        );
        self.flush();
        Ok(id)
    }
}
