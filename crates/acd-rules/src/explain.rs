//! `acd rules explain`: which route and step a hypothetical call would get, and which agents
//! could take it, under a ruleset.
//!
//! This part needs only the compiled config: route matching (first route whose conditions all
//! hold, with the reason each earlier route was passed over), the step in force after the call
//! has waited, opening hours, and which agents of the queue satisfy the requirement. Which
//! eligible agent actually wins depends on live state (who is idle, for how long), which only
//! the engine has; the explanation says so instead of guessing.
//!
//! The call can be placed at any local instant (`at=2026-12-25T12:30`, or `date=` and `time=`),
//! and the queue's calendar is applied there, exactly as the engine applies it: a supervisor
//! checks a lunch break or a holiday before it happens, instead of reading that a route
//! "matches" on a day the queue is closed.

use crate::diag::suggest;
use crate::duration::parse_duration;
use crate::parse::{priority_name, strategy_name};
use crate::skill_expr::format_skill_expr;
use crate::target::format_target;
use acd_core::{number::matches, NumberPlan};
use acd_core::{
    AgentSnapshot, CallAttributes, Condition, Engine, Event, PhoneState, Presence, QueueId,
    QueueMember, QueueServiceMode, QueueSnapshot, Route, RoutingConfig, SkillExpr, StepAction,
    Timestamp, TrunkKind, UtcOffsets,
};
use std::fmt::Write as _;
use std::sync::Arc;

const KEYS: [&str; 10] = [
    "queue", "language", "did", "calling", "trunk", "tag", "time", "date", "at", "waited",
];

/// A hypothetical call as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HypotheticalCall {
    pub queue: QueueId,
    pub attributes: CallAttributes,
    /// Local time of day in minutes; `None` means "now".
    pub local_minute: Option<u16>,
    /// Local date, as days since 1970-01-01; `None` means the local day of "now". Only given
    /// together with `local_minute`.
    pub local_date: Option<i64>,
    /// How long the call has waited (selects the step in force).
    pub waited_ms: u64,
}

/// Parses `key=value` words: queue (required), language, did, calling, trunk, tag,
/// time (HH:MM local), date (YYYY-MM-DD local, with time), at (YYYY-MM-DDTHH:MM local: date
/// and time in one), waited (duration). Values may hold spaces (see [`pairs`]).
pub fn parse_call(words: &[String]) -> Result<HypotheticalCall, String> {
    let mut queue = None;
    let mut attributes = CallAttributes::default();
    let mut local_minute = None;
    let mut local_date = None;
    let mut at_given = false;
    let mut waited_ms = 0;
    let pairs = pairs(words)?;
    for (key, value) in &pairs {
        let (key, value) = (key.as_str(), value.as_str());
        match key {
            "queue" => queue = Some(QueueId(value.to_string())),
            "language" => attributes.language = value.to_string(),
            "did" => attributes.did = value.to_string(),
            "calling" => attributes.calling_number = value.to_string(),
            "tag" => attributes.tag = value.to_string(),
            "trunk" => {
                attributes.trunk = TrunkKind::from_name(value)
                    .ok_or_else(|| format!("unknown trunk kind `{value}`"))?
            }
            "time" => local_minute = Some(crate::calendar::parse_clock(value)?),
            "date" => local_date = Some(crate::calendar::parse_date(value)?),
            "at" => {
                let (date, time) = value.split_once(['T', 't']).ok_or_else(|| {
                    format!("`at={value}` is not a local date and time like 2026-12-25T12:30")
                })?;
                local_date = Some(crate::calendar::parse_date(date)?);
                local_minute = Some(crate::calendar::parse_clock(time)?);
                at_given = true;
            }
            "waited" => waited_ms = parse_duration(value)?,
            other => {
                let hint = suggest(other, KEYS)
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                return Err(format!(
                    "unknown call attribute `{other}`{hint}; known: {}",
                    KEYS.join(", ")
                ));
            }
        }
    }
    let queue = queue.ok_or("the call needs a queue, for example queue=Sales")?;
    let date_words = (pairs.iter())
        .filter(|(k, _)| k == "date" || k == "time")
        .count();
    if at_given && date_words > 0 {
        return Err("give either at=DATE'T'TIME or date= and time=, not both".into());
    }
    if local_date.is_some() && local_minute.is_none() {
        return Err("date= needs a time too, for example date=2026-12-25 time=12:30".into());
    }
    Ok(HypotheticalCall {
        queue,
        attributes,
        local_minute,
        local_date,
        waited_ms,
    })
}

/// The `key=value` pairs of the command line's words. A shell hands `queue="Sales FR"` over
/// as the one word `queue=Sales FR`, and `--call "queue=Sales language=deu"` as one word with
/// two pairs; so each word is split at white space (outside quotes, which are removed), and a
/// piece that does not begin with `key=` continues the value before it: queue names with
/// spaces, which FORMAT.md allows, work however they were quoted.
fn pairs(words: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for word in words {
        for piece in pieces(word)? {
            let key = piece.split_once('=').map(|(k, _)| k);
            let is_key = key.is_some_and(|k| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
            });
            match (key, out.last_mut()) {
                (Some(k), _) if is_key => {
                    let value = piece[k.len() + 1..].to_string();
                    out.push((k.to_string(), value));
                }
                (_, Some((_, value))) => {
                    value.push(' ');
                    value.push_str(&piece);
                }
                (_, None) => return Err(format!("`{piece}` is not key=value")),
            }
        }
    }
    Ok(out)
}

/// A word split at white space outside quotes (`"…"` or `'…'`), the quotes removed.
fn pieces(word: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in word.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                started = true;
            }
            None if c.is_whitespace() => {
                if started {
                    out.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            None => {
                current.push(c);
                started = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("`{word}` has a quote that is not closed"));
    }
    if started {
        out.push(current);
    }
    Ok(out)
}

fn local_minute_of(now: Timestamp, offsets: &UtcOffsets) -> u16 {
    acd_core::calendar::local_day_minute(now, offsets.at(now)).1
}

/// Why `cond` does not hold for the call, or `None` when it holds.
pub fn condition_miss(
    plan: Option<&NumberPlan>,
    cond: &Condition,
    queue: &QueueId,
    call: &CallAttributes,
    (day, minute): (i64, u16),
) -> Option<String> {
    let list = |items: Vec<String>| items.join(", ");
    match cond {
        Condition::Queue(qs) => (!qs.contains(queue)).then(|| {
            format!(
                "queue is {queue}, route wants {}",
                list(qs.iter().map(|q| q.0.clone()).collect())
            )
        }),
        Condition::Did(ps) => (!ps.iter().any(|p| matches(plan, p, &call.did))).then(|| {
            format!(
                "DID \"{}\" matches none of {}",
                call.did,
                list(ps.iter().map(|p| p.as_str().to_string()).collect())
            )
        }),
        Condition::CallingNumber(ps) => {
            (!ps.iter().any(|p| matches(plan, p, &call.calling_number))).then(|| {
                format!(
                    "calling number \"{}\" matches none of {}",
                    call.calling_number,
                    list(ps.iter().map(|p| p.as_str().to_string()).collect())
                )
            })
        }
        Condition::Tag(ps) => (!ps.iter().any(|p| p.matches(&call.tag))).then(|| {
            format!(
                "tag \"{}\" matches none of {}",
                call.tag,
                list(ps.iter().map(|p| p.as_str().to_string()).collect())
            )
        }),
        Condition::Language(ls) => (!ls.iter().any(|l| l.eq_ignore_ascii_case(&call.language)))
            .then(|| format!("language \"{}\" is not {}", call.language, list(ls.clone()))),
        Condition::Trunk(ts) => (!ts.contains(&call.trunk)).then(|| {
            format!(
                "trunk {} is not {}",
                trunk_word(call.trunk),
                list(ts.iter().map(|t| t.name().to_string()).collect())
            )
        }),
        Condition::TimeOfDay {
            from_minute,
            to_minute,
        } => (minute < *from_minute || minute >= *to_minute).then(|| {
            format!(
                "local time {} is outside {}-{}",
                clock(minute),
                clock(*from_minute),
                clock(*to_minute)
            )
        }),
        Condition::Weekdays(days) => {
            let today = acd_core::calendar::weekday(day);
            (days & (1 << today) == 0).then(|| {
                format!(
                    "{} is not one of the route's days",
                    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][usize::from(today)]
                )
            })
        }
        // Judged by the engine's verdict below, which measures the queue.
        Condition::QueueState(_) => None,
    }
}

fn clock(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// The explanation text for `call` under `config` at `now`.
pub fn explain_call(config: &RoutingConfig, call: &HypotheticalCall, now: Timestamp) -> String {
    explain_call_as(config, &config.version.to_string(), call, now)
}

/// [`explain_call`] with the version shown as `version` (for example "4 (active)" or "5, not
/// applied yet"), for callers that know more about where the rules came from than the config.
pub fn explain_call_as(
    config: &RoutingConfig,
    version: &str,
    call: &HypotheticalCall,
    now: Timestamp,
) -> String {
    let mut out = String::new();
    let minute = call
        .local_minute
        .unwrap_or_else(|| local_minute_of(now, &config.utc_offsets));
    // The instant explained: `now`, or the given local time on the given local day (else on
    // the same local day as `now`). Its own offset is shown, since on a day clocks change it
    // differs from the one at `now`.
    let at = match call.local_date {
        Some(day) => at_local(day, minute, &config.utc_offsets),
        None if call.local_minute.is_none() => now,
        None => at_local_minute(now, &config.utc_offsets, minute),
    };
    let (local_day, _) = acd_core::calendar::local_day_minute(at, config.utc_offsets.at(at));
    let _ = writeln!(
        out,
        "call: queue={} language={} did={} calling={} trunk={} tag={} on {} at {} local ({}), \
         waited {}s",
        call.queue,
        or_dash(&call.attributes.language),
        or_dash(&call.attributes.did),
        or_dash(&call.attributes.calling_number),
        trunk_word(call.attributes.trunk),
        or_dash(&call.attributes.tag),
        format_day(local_day),
        clock(minute),
        format_offset(config.utc_offsets.at(at)),
        call.waited_ms / 1000
    );
    let (attributes, lookup_lines) = crate::lookups::explain(config, &call.attributes);
    for line in lookup_lines {
        let _ = writeln!(out, "{line}");
    }
    let call = &HypotheticalCall {
        attributes,
        ..call.clone()
    };
    let _ = writeln!(out, "rules version: {version}");
    let Some(policy) = config.queues.get(&call.queue) else {
        let _ = writeln!(
            out,
            "queue {} is not controlled by these rules: IP Office distributes its calls itself",
            call.queue
        );
        return out;
    };
    // The calendar is the engine's first question at arrival, at the instant explained: a
    // closed queue sends the call to night service before any route is looked at.
    if let Some(cal) = &policy.calendar {
        let state = acd_core::calendar::state(cal, at);
        if state != acd_core::calendar::CalendarState::Open {
            let when = if call.local_minute.is_none() {
                "now".to_string()
            } else {
                format!("on {} at {}", format_day(local_day), clock(minute))
            };
            let (why, target) = if state == acd_core::calendar::CalendarState::Holiday {
                (
                    "a listed closed day",
                    cal.holiday_target.as_ref().unwrap_or(&cal.night_target),
                )
            } else {
                ("outside its opening hours", &cal.night_target)
            };
            let _ = writeln!(
                out,
                "queue {} is closed {when} ({why}): the call goes to {}",
                call.queue,
                format_target(target)
            );
            if call.waited_ms == 0 {
                engine_verdict(&mut out, config, call, at);
            }
            return out;
        }
    }
    let mut chosen: Option<&Route> = None;
    for route in &config.routes {
        let misses: Vec<String> = route
            .conditions
            .iter()
            .filter_map(|c| {
                let plan = config.numbering.as_ref();
                condition_miss(plan, c, &call.queue, &call.attributes, (local_day, minute))
            })
            .collect();
        if misses.is_empty() {
            let _ = writeln!(out, "route \"{}\": MATCHES", route.name);
            chosen = Some(route);
            break;
        }
        let _ = writeln!(out, "route \"{}\": no ({})", route.name, misses.join("; "));
    }
    let mut required = SkillExpr::Any;
    if let Some(route) = chosen {
        required = route.requires.clone();
        let _ = writeln!(out, "  requires {}", format_skill_expr(&required));
        if let Some(p) = route.priority {
            let _ = writeln!(out, "  starts at priority {}", priority_name(p));
        }
        for (i, step) in route.steps.iter().enumerate() {
            let fired = step.after_ms <= call.waited_ms;
            let what = match &step.action {
                // A step's requirement replaces the route's to let more agents in: the rules
                // call that widening, whichever of `widen` and `require` was written.
                StepAction::Require(e) => format!("widen to {}", format_skill_expr(e)),
                StepAction::Priority(p) => format!("priority {}", priority_name(*p)),
                StepAction::Overflow(t) => format!("overflow to {}", format_target(t)),
            };
            let _ = writeln!(
                out,
                "  step {} after {}s: {what}{}",
                i + 1,
                step.after_ms / 1000,
                if fired { "  (in force)" } else { "" }
            );
            if fired {
                match &step.action {
                    StepAction::Require(e) => required = e.clone(),
                    StepAction::Overflow(t) => {
                        let _ = writeln!(out, "the call has overflowed to {}", format_target(t));
                        return out;
                    }
                    StepAction::Priority(_) => {}
                }
            }
        }
    } else {
        let _ = writeln!(
            out,
            "no route matches: any agent of queue {} may take the call",
            call.queue
        );
    }
    let pool: Vec<&acd_core::AgentProfile> = if policy.agents.is_empty() {
        let _ = writeln!(
            out,
            "queue {q} lists no agents: the engine takes the members of IP Office's hunt group \
             {q}, enabled or not, which explain cannot see; every agent of the rules is shown \
             as if a member",
            q = call.queue
        );
        config.agents.values().collect()
    } else {
        policy
            .agents
            .iter()
            .filter_map(|a| config.agents.get(a))
            .collect()
    };
    let _ = writeln!(
        out,
        "agents of {} needing {}:",
        call.queue,
        format_skill_expr(&required)
    );
    let mut eligible = 0;
    for agent in &pool {
        let ok = acd_core::skill::matches(&required, &agent.skills);
        eligible += usize::from(ok);
        let skills: Vec<String> = agent
            .skills
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(
            out,
            "  {} {:<6} {}",
            if ok { "eligible    " } else { "not eligible" },
            agent.agent.0,
            skills.join(" ")
        );
    }
    if eligible == 0 {
        let exit = match &policy.no_agents_target {
            Some(t) => format!(
                "; with nobody logged in it would go to {}",
                format_target(t)
            ),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "nobody can take this call now: it waits for a later step{exit}"
        );
    } else {
        let _ = writeln!(
            out,
            "{eligible} eligible; among the free ones the engine picks by the queue's tiers, then \
             its strategy ({})",
            strategy_name(policy.strategy)
        );
    }
    if let Some((n, target)) = &policy.max_waiting {
        let _ = writeln!(
            out,
            "(with more than {n} calls waiting, new calls go to {})",
            format_target(target)
        );
    }
    // After steps have widened the requirement the engine ranks by the one in force, so the
    // verdict is asked with that requirement as the route's own.
    if call.waited_ms == 0 {
        engine_verdict(&mut out, config, call, at);
    } else if let Some(route) = chosen {
        let mut widened = config.clone();
        if let Some(r) = widened.routes.iter_mut().find(|r| r.name == route.name) {
            r.requires = required;
            r.steps.clear();
        }
        engine_verdict(&mut out, &widened, call, at);
    } else {
        engine_verdict(&mut out, config, call, at);
    }
    out
}

/// A trunk kind as rules and scenarios write it; `-` when IP Office reported none.
fn trunk_word(trunk: TrunkKind) -> &'static str {
    match trunk {
        TrunkKind::None => "-",
        other => other.name(),
    }
}

/// The routing core's own answer for the call arriving now, with every agent of the queue
/// logged in and idle: how it would rank them and the agent it would pick. Using the
/// engine itself (rather than re-deriving its scoring here) keeps `explain` honest.
fn engine_verdict(
    out: &mut String,
    config: &RoutingConfig,
    call: &HypotheticalCall,
    at: Timestamp,
) {
    let mut engine = Engine::new(Arc::new(config.clone()));
    for policy in config.queues.values() {
        // A queue without a list takes IP Office's members, which explain cannot see: every
        // agent of the rules stands in for them, as in the list of agents above.
        let ids: Vec<&acd_core::AgentId> = if policy.agents.is_empty() {
            config.agents.keys().collect()
        } else {
            policy.agents.iter().collect()
        };
        // Disabled, as the README has operators set routed groups' members.
        let members = (ids.into_iter())
            .map(|a| QueueMember {
                agent: a.clone(),
                enabled: false,
            })
            .collect();
        engine.handle(
            at,
            Event::QueueChanged(QueueSnapshot {
                queue: policy.queue.clone(),
                extension: String::new(),
                members,
                service_mode: QueueServiceMode::Active,
            }),
        );
    }
    for agent in config.agents.values() {
        engine.handle(
            at,
            Event::AgentChanged(AgentSnapshot {
                agent: agent.agent.clone(),
                name: String::new(),
                presence: Presence {
                    logged_in: true,
                    dnd: false,
                    phone_fault: false,
                    forwarded: false,
                },
                phone: PhoneState::Idle,
            }),
        );
    }
    let verdict = engine.explain(at, &call.queue, &call.attributes);
    let _ = writeln!(
        out,
        "if every agent were logged in and idle, the engine would offer the call in this order \
         (tier, then the queue's strategy; see FORMAT.md, \"Reading acd rules explain\"):"
    );
    // The engine's own order: eligible first, then by its preference, ties to the lower
    // extension. The preference itself is an internal number; its parts are in the note.
    let mut candidates = verdict.candidates.clone();
    candidates.sort_by(|a, b| {
        (b.eligible.cmp(&a.eligible))
            .then(b.score.total_cmp(&a.score))
            .then(a.agent.cmp(&b.agent))
    });
    let mut place = 0;
    for c in &candidates {
        let mark = if verdict.winner.as_ref() == Some(&c.agent) {
            "->"
        } else {
            "  "
        };
        if c.eligible {
            place += 1;
            let _ = writeln!(out, "  {mark} {place:>2}. {:<6} {}", c.agent.0, c.note);
        } else {
            let _ = writeln!(
                out,
                "  {mark}     {:<6} not eligible: {}",
                c.agent.0, c.note
            );
        }
    }
    match &verdict.winner {
        Some(w) => {
            let _ = writeln!(out, "winner: {w} ({})", verdict.reason);
        }
        None => {
            let _ = writeln!(out, "no winner: {}", verdict.reason);
        }
    }
}

/// `YYYY-MM-DD` for a day number (days since 1970-01-01).
fn format_day(day: i64) -> String {
    let at = Timestamp(u64::try_from(day.saturating_mul(86_400_000)).unwrap_or(0));
    let text = crate::commands::format_utc(at);
    text.get(..10).unwrap_or(&text).to_string()
}

/// `now` moved to `minute` (local time) of the same local day, with the offset in force at the
/// instant reached rather than at `now`: `time=10:00` on the day clocks go forward means 10:00
/// summer time even when asked at 01:00 winter time. A local time the change skips (02:30 in
/// spring) is read with the offset before the change, so it comes out as 03:30 summer time; one
/// that happens twice (02:30 in autumn) as its first occurrence.
fn at_local_minute(now: Timestamp, offsets: &UtcOffsets, minute: u16) -> Timestamp {
    let (day, _) = acd_core::calendar::local_day_minute(now, offsets.at(now));
    at_local(day, minute, offsets)
}

/// The instant at which local time reads `minute` on local `day` (days since 1970-01-01),
/// resolved as [`at_local_minute`] says for the nights clocks change.
pub fn at_local(day: i64, minute: u16, offsets: &UtcOffsets) -> Timestamp {
    const DAY: i64 = 86_400_000;
    let instant = |utc: i64| Timestamp::from_millis(u64::try_from(utc).unwrap_or(0));
    let local = day.saturating_mul(DAY) + i64::from(minute) * 60_000;
    // Offsets change at most once a day: the ones a day either side of the local time are the
    // only candidates, and a candidate holds if it is in force at the instant it gives.
    let before = offsets.at(instant(local - DAY));
    let after = offsets.at(instant(local + DAY));
    let utc = |offset: i32| local - i64::from(offset) * 60_000;
    let holds = |offset: i32| offsets.at(instant(utc(offset))) == offset;
    let chosen = match (holds(before), holds(after)) {
        (true, true) => utc(before).min(utc(after)),
        (false, true) => utc(after),
        (true, false) | (false, false) => utc(before),
    };
    instant(chosen)
}

/// `UTC+02:00`, `UTC-05:30`.
fn format_offset(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use acd_core::{Calendar, Target};

    fn example() -> RoutingConfig {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../routing-rules");
        let checked = crate::check_dir(&dir).unwrap();
        assert!(checked.is_ok(), "{}", checked.report.render());
        checked.config
    }

    fn call(words: &str) -> HypotheticalCall {
        let words: Vec<String> = words.split(' ').map(str::to_string).collect();
        parse_call(&words).unwrap()
    }

    #[test]
    fn german_sales_call_matches_second_route_and_lists_agents() {
        let text = explain_call(
            &example(),
            &call("queue=Sales language=deu did=4930123456 time=10:00"),
            Timestamp(0),
        );
        assert!(
            text.contains("route \"VIP German sales\": no (tag \"\" matches none of vip*)"),
            "{text}"
        );
        assert!(text.contains("route \"German sales\": MATCHES"), "{text}");
        assert!(text.contains("  eligible     2001"), "{text}");
        assert!(text.contains("  not eligible 2003"), "{text}");
    }

    #[test]
    fn the_engine_names_the_winner_and_its_score() {
        let text = explain_call(
            &example(),
            &call("queue=Sales language=deu time=10:00"),
            Timestamp(0),
        );
        // 2002 has the best German-and-sales fit; 2003 speaks no German.
        assert!(text.contains("winner: 2002"), "{text}");
        assert!(text.contains("->  1. 2002"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.contains("2003") && l.contains("lacks required skills")),
            "{text}"
        );
    }

    #[test]
    fn steps_in_force_follow_the_waiting_time() {
        let cfg = example();
        let text = explain_call(
            &cfg,
            &call("queue=Sales language=deu time=10:00 waited=8s"),
            Timestamp(0),
        );
        assert!(
            text.contains("step 1 after 5s: widen to deu >= 5  (in force)"),
            "{text}"
        );
        assert!(
            !text.contains("step 2 after 12s: widen to sales OR support  (in force)"),
            "{text}"
        );
        assert!(text.contains("  eligible     2005"), "{text}");
        assert!(text.contains("  not eligible 2003"), "{text}");
        let text = explain_call(
            &cfg,
            &call("queue=Sales language=deu time=10:00 waited=4m"),
            Timestamp(0),
        );
        assert!(
            text.contains("the call has overflowed to queue:Support"),
            "{text}"
        );
    }

    /// Issue 24 (8): `--call queue="Sales FR"` failed ("`FR` is not key=value").
    #[test]
    fn queue_names_with_spaces_work_however_they_are_quoted() {
        let words = |ws: &[&str]| ws.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        for given in [
            words(&["queue=Sales FR", "language=fra"]),
            words(&["queue=Sales FR language=fra"]),
            words(&["queue=\"Sales FR\" language=fra"]),
            words(&["queue='Sales FR'", "language=fra"]),
        ] {
            let call = parse_call(&given).unwrap();
            assert_eq!(call.queue, QueueId::from("Sales FR"), "{given:?}");
            assert_eq!(call.attributes.language, "fra", "{given:?}");
        }
        assert!(parse_call(&words(&["Sales", "queue=Sales"]))
            .unwrap_err()
            .contains("`Sales` is not key=value"));
        assert!(parse_call(&words(&["queue=\"Sales"]))
            .unwrap_err()
            .contains("not closed"));
        let rules = "[queues.\"Sales FR\"]\n";
        let checked = crate::check_sources(vec![crate::SourceFile::new("r.toml", rules)]);
        assert!(checked.is_ok(), "{}", checked.report.render());
        let text = explain_call(
            &checked.config,
            &parse_call(&words(&["queue=Sales FR"])).unwrap(),
            Timestamp(0),
        );
        assert!(!text.contains("not controlled by these rules"), "{text}");
    }

    /// Issue 24 (10): explain printed Rust names (`trunk=None`, `BestSkill`, `High`), a score
    /// no document explained, and no ranking once the call had waited.
    #[test]
    fn explain_speaks_the_words_of_the_rules_and_keeps_the_ranking_after_a_wait() {
        let cfg = example();
        for words in [
            "queue=Sales language=deu time=10:00",
            "queue=Sales language=deu time=10:00 waited=45s",
            "queue=Sales language=deu tag=vip time=10:00 waited=45s",
            "queue=Support trunk=isdn time=10:00",
        ] {
            let text = explain_call(&cfg, &call(words), Timestamp(0));
            println!("{words}\n{text}");
            for rust in [
                "None",
                "Some(",
                "BestSkill",
                "LongestIdle",
                "Linear",
                "High",
                "Medium",
                "Low",
                "Isdn",
                "Sip",
                "[",
                "]",
            ] {
                assert!(!text.contains(rust), "{words}: `{rust}` in\n{text}");
            }
            assert!(text.contains("winner: "), "{words}: no ranking in\n{text}");
            assert!(text.contains("->  1. "), "{words}: no ranking in\n{text}");
        }
        let text = explain_call(&cfg, &call("queue=Sales time=10:00"), Timestamp(0));
        assert!(text.contains("trunk=-"), "{text}");
        // The ranking after a widening step ranks by the requirement in force: 2005 comes in.
        let text = explain_call(
            &cfg,
            &call("queue=Sales language=deu time=10:00 waited=45s"),
            Timestamp(0),
        );
        assert!(
            text.lines()
                .any(|l| l.contains(". 2005") && l.contains("first choice")),
            "{text}"
        );
    }

    /// Issue 24 (7): explain listed a list-less queue's agents as eligible, then "no winner".
    #[test]
    fn a_queue_without_agents_is_explained_with_the_hunt_group_members() {
        let rules = "[skills]\nsales = \"\"\n[agents.201]\nskills = { sales = 5 }\n\
                     [agents.202]\nskills = { sales = 3 }\n[queues.Sales]\n";
        let checked = crate::check_sources(vec![crate::SourceFile::new("r.toml", rules)]);
        assert!(checked.is_ok(), "{}", checked.report.render());
        let text = explain_call(
            &checked.config,
            &call("queue=Sales time=10:00"),
            Timestamp(0),
        );
        assert!(text.contains("lists no agents"), "{text}");
        assert!(text.contains("winner: 201"), "{text}");
        assert!(!text.contains("no winner"), "{text}");
    }

    #[test]
    fn bad_attributes_are_refused() {
        assert!(parse_call(&["queue=Sales".into(), "langauge=deu".into()])
            .unwrap_err()
            .contains("did you mean `language`?"));
        assert!(parse_call(&["language=deu".into()]).is_err());
        assert!(parse_call(&["queue=Sales".into(), "waited=5".into()]).is_err());
    }

    #[test]
    fn calendar_weekdays_and_closed_days() {
        let cal = Calendar {
            utc_offsets: UtcOffsets::fixed(60),
            open: vec![acd_core::OpenWindow {
                weekdays: 0b001_1111,
                from_minute: 8 * 60,
                to_minute: 18 * 60,
            }],
            holidays: vec![acd_core::Holiday::Date(
                crate::calendar::parse_date("2025-06-03").unwrap(),
            )],
            night_target: Target::Voicemail("Sales".into()),
            holiday_target: None,
            at_close: acd_core::AtClose::Serve,
        };
        // 2025-06-02 (a Monday) 08:00 UTC = 09:00 local.
        let monday_9 = Timestamp(1_748_851_200_000);
        assert!(acd_core::calendar::is_open(&cal, monday_9));
        assert!(!acd_core::calendar::is_open(
            &cal,
            Timestamp(monday_9.0 + 10 * 3_600_000)
        ));
        assert!(!acd_core::calendar::is_open(
            &cal,
            Timestamp(monday_9.0 + 86_400_000)
        ));
        assert!(!acd_core::calendar::is_open(
            &cal,
            Timestamp(monday_9.0 + 5 * 86_400_000)
        ));
    }

    /// A centre closed for lunch on weekdays and on Christmas Day, in Berlin time.
    const LUNCH_RULES: &str = r#"
[settings]
time_zone = "Europe/Berlin"

[skills]
sales = "Sells"

[agents.201]
skills = { sales = 5 }

[agents.202]
skills = { sales = 8 }

[queues.Sales]
agents = ["201", "202"]

[queues.Sales.calendar]
open = ["Mon-Fri 08:00-12:00", "Mon-Fri 13:00-18:00"]
closed = [2026-12-25]
night = "voicemail:Sales"

[[routes]]
name = "Sales callers"
queue = "Sales"
requires = "sales >= 5"
"#;

    fn lunch_rules() -> RoutingConfig {
        let checked = crate::check_sources(vec![crate::SourceFile::new("rules.toml", LUNCH_RULES)]);
        assert!(checked.is_ok(), "{}", checked.report.render());
        checked.config
    }

    // 2026-12-07, a Monday, 09:00 Berlin time (08:00 UTC).
    const MONDAY_9: Timestamp = Timestamp(1_796_630_400_000);

    #[test]
    fn a_lunch_break_on_a_weekday_is_closed_and_names_the_night_target() {
        let rules = lunch_rules();
        for words in [
            "queue=Sales at=2026-12-07T12:30",
            "queue=Sales date=2026-12-07 time=12:30",
            // A time alone is on the day of "now", a Monday: the calendar applies too.
            "queue=Sales time=12:30",
        ] {
            let text = explain_call(&rules, &call(words), MONDAY_9);
            assert!(
                text.contains(
                    "queue Sales is closed on 2026-12-07 at 12:30 (outside its opening hours): \
                     the call goes to voicemail:Sales"
                ),
                "{words}: {text}"
            );
            assert!(
                text.contains("on 2026-12-07 at 12:30 local (UTC+01:00)"),
                "{text}"
            );
            assert!(!text.contains("MATCHES"), "{words}: {text}");
            assert!(
                text.contains(
                    "no winner: closed (outside opening hours): night service to voicemail:Sales"
                ),
                "{words}: {text}"
            );
        }
    }

    #[test]
    fn a_listed_closed_day_is_closed_even_in_opening_hours() {
        let text = explain_call(
            &lunch_rules(),
            &call("queue=Sales at=2026-12-25T10:00"),
            MONDAY_9,
        );
        assert!(
            text.contains("queue Sales is closed on 2026-12-25 at 10:00 (a listed closed day)"),
            "{text}"
        );
        assert!(
            text.contains("no winner: closed (a listed closed day)"),
            "{text}"
        );
        assert!(!text.contains("MATCHES"), "{text}");
    }

    #[test]
    fn weekday_routes_are_explained_on_the_day_asked_for() {
        let text = LUNCH_RULES.replace(
            "name = \"Sales callers\"",
            "name = \"Saturday callers\"\ndays = \"Sat\"\n\n[[routes]]\nname = \"Sales callers\"",
        );
        let checked = crate::check_sources(vec![crate::SourceFile::new("rules.toml", &text)]);
        assert!(checked.is_ok(), "{}", checked.report.render());
        let out = explain_call(
            &checked.config,
            &call("queue=Sales at=2026-12-08T10:00"),
            MONDAY_9,
        );
        assert!(
            out.contains("route \"Saturday callers\": no (Tue is not one of the route's days)")
                || out.contains("Tue is not one of the route's days"),
            "{out}"
        );
        assert!(out.contains("route \"Sales callers\": MATCHES"), "{out}");
    }

    #[test]
    fn an_open_time_names_the_route_and_the_winner() {
        let text = explain_call(
            &lunch_rules(),
            &call("queue=Sales at=2026-12-08T10:00"),
            MONDAY_9,
        );
        assert!(text.contains("on 2026-12-08 at 10:00 local"), "{text}");
        assert!(!text.contains("closed"), "{text}");
        assert!(text.contains("route \"Sales callers\": MATCHES"), "{text}");
        // Longest idle decides, not the sales level: both idle alike, the lower extension.
        assert!(text.contains("winner: 201"), "{text}");
    }

    #[test]
    fn dates_are_checked_and_never_mixed() {
        let parse = |w: &str| parse_call(&w.split(' ').map(str::to_string).collect::<Vec<_>>());
        assert!(parse("queue=Sales date=2026-12-25")
            .unwrap_err()
            .contains("needs a time"));
        assert!(parse("queue=Sales at=2026-12-25T10:00 time=11:00")
            .unwrap_err()
            .contains("not both"));
        assert!(parse("queue=Sales at=2026-12-25")
            .unwrap_err()
            .contains("2026-12-25T12:30"));
        assert!(parse("queue=Sales at=2026-02-30T10:00").is_err());
        let c = parse("queue=Sales at=2026-12-25T10:00").unwrap();
        assert_eq!(c.local_minute, Some(600));
        assert_eq!(c.local_date, crate::calendar::parse_date("2026-12-25").ok());
    }
}
