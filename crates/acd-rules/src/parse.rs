//! Reading one rule file into the [`RulesDef`] model, field by field, with every local problem
//! (syntax, unknown field, wrong type, out-of-range value, bad pattern or expression) reported.
//! Problems that need other files (unknown skills, queues, agents) are checked in `resolve`.

use crate::calendar::{parse_clock_range, parse_days, parse_holiday, parse_window};
use crate::diag::{Diag, Loc};
use crate::model::*;
use crate::skill_expr::parse_skill_expr;
use crate::state_test::parse_state_tests;
use crate::target::{check_number_pattern, parse_target};
use crate::time_zone::{closest_zones, zone_offsets};
use crate::walk::{Value, Walker};
use acd_core::{
    AtClose, Balance, Condition, Delivery, Holiday, PickStrategy, Priority, PriorityOrder, QueueId,
    Rona, SkillExpr, StateTest, Target, TrunkKind, UtcOffsets,
};
use toml::de::{DeTable, DeValue};

const DAY_MS: u64 = 86_400_000;
const HOUR_MS: u64 = 3_600_000;

/// Parses one file's text. Returns `None` when the file has syntax errors (they are reported;
/// the recovered tree is not trusted for further checks).
pub fn parse_file(file: usize, text: &str, diags: &mut Vec<Diag>) -> Option<RulesDef> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for err in errors {
            let span = err.span().unwrap_or(0..0);
            let message = err.message().trim().to_string();
            let loc = Loc { file, span };
            diags.push(
                Diag::error("rules::syntax", format!("syntax error: {message}"))
                    .at(&loc, "here")
                    .help(
                        "rule files are TOML: `key = value`, [table] headers, \"quoted strings\"",
                    ),
            );
        }
        return None;
    }
    let mut w = Walker { file, text, diags };
    let mut out = RulesDef::default();
    let table = doc.get_ref();
    w.check_keys(
        table,
        &[
            "settings", "skills", "profiles", "agents", "queues", "routes", "lookups",
        ],
        "the top level",
    );
    if let Some((key, value)) = table.get_key_value("settings") {
        out.settings.loc = Some(w.loc(key.span()));
        if let Some(t) = w.table(value, "settings") {
            settings(&mut w, t, &mut out.settings);
        }
    }
    if let Some(value) = table.get("skills") {
        if let Some(t) = w.table(value, "skills") {
            for (key, desc) in t.iter() {
                if !matches!(desc.get_ref(), DeValue::String(_)) {
                    w.string(desc, "a skill description");
                }
                let name = key.get_ref().to_string();
                if !valid_name(&name) {
                    w.error_help(
                        key.span(),
                        "rules::bad-name",
                        format!("`{name}` is not usable as a skill name"),
                        "bad skill name",
                        "skill names use letters, digits, `_` and `-` only".into(),
                    );
                    continue;
                }
                out.skills.push(S {
                    value: name,
                    loc: w.loc(key.span()),
                });
            }
        }
    }
    if let Some(value) = table.get("profiles") {
        if let Some(t) = w.table(value, "profiles") {
            for (key, body) in t.iter() {
                let name = S {
                    value: key.get_ref().to_string(),
                    loc: w.loc(key.span()),
                };
                if let Some(levels) = w.table(body, "a profile") {
                    let skills = skill_levels(&mut w, levels);
                    out.profiles.push(ProfileDef { name, skills });
                }
            }
        }
    }
    if let Some(value) = table.get("agents") {
        if let Some(t) = w.table(value, "agents") {
            for (key, body) in t.iter() {
                let id = S {
                    value: key.get_ref().to_string(),
                    loc: w.loc(key.span()),
                };
                if let Some(body) = w.table(body, "an agent") {
                    out.agents.push(agent(&mut w, id, body));
                }
            }
        }
    }
    if let Some(value) = table.get("queues") {
        if let Some(t) = w.table(value, "queues") {
            for (key, body) in t.iter() {
                let name = S {
                    value: key.get_ref().to_string(),
                    loc: w.loc(key.span()),
                };
                if let Some(body) = w.table(body, "a queue") {
                    out.queues.push(queue(&mut w, name, body));
                }
            }
        }
    }
    if let Some(value) = table.get("routes") {
        for item in w.list(value, "routes") {
            if let Some(body) = w.table(item, "a route") {
                if let Some(r) = route(&mut w, item, body) {
                    out.routes.push(r);
                }
            }
        }
    }
    if let Some(value) = table.get("lookups") {
        crate::lookups::parse(&mut w, value, &mut out.lookups);
    }
    Some(out)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        && !["and", "or", "not", "any"].contains(&name.to_ascii_lowercase().as_str())
}

fn settings(w: &mut Walker<'_>, t: &DeTable<'_>, out: &mut SettingsDef) {
    w.check_keys(
        t,
        &[
            "utc_offset",
            "time_zone",
            "default_wrap_up",
            "default_rona",
            "allowed_transfer_targets",
            "priority_order",
            "priority_step",
            "balance",
            "service_level_window",
            "weights",
            "country_code",
            "national_prefix",
            "international_prefix",
            "ip_office_tags",
        ],
        "[settings]",
    );
    out.numbering = crate::numbering::parse(w, t);
    match (t.get_key_value("time_zone"), t.get("utc_offset")) {
        (Some((key, _)), Some(_)) => w.error_help(
            key.span(),
            "rules::time-zone-and-utc-offset",
            "`time_zone` and `utc_offset` are both set".into(),
            "second way to give local time",
            "keep one: `time_zone` (for example \"Europe/Berlin\") follows daylight saving, \
             `utc_offset` stays the same all year"
                .into(),
        ),
        (Some((_, v)), None) => out.utc_offsets = time_zone(w, v),
        (None, Some(v)) => out.utc_offsets = utc_offset(w, v).map(UtcOffsets::fixed),
        (None, None) => {}
    }
    if let Some(v) = t.get("default_wrap_up") {
        out.default_wrap_up_ms = w.duration(v, "default_wrap_up", HOUR_MS).map(|d| d.value);
    }
    if let Some(v) = t.get("default_rona") {
        out.default_rona = rona(w, v, "default_rona");
    }
    if let Some(v) = t.get("allowed_transfer_targets") {
        for pattern in w.strings(v, "allowed_transfer_targets") {
            if number_pattern(w, &pattern) {
                out.allowed_external.push(pattern);
            }
        }
    }
    if let Some(v) = t.get("ip_office_tags") {
        out.ip_office_tags = w.strings(v, "ip_office_tags");
    }
    let order = t
        .get("priority_order")
        .and_then(|v| w.string(v, "priority_order"));
    let step = t
        .get("priority_step")
        .and_then(|v| w.duration(v, "priority_step", HOUR_MS));
    out.priority_order = match order.as_ref().map(|o| o.value.as_str()) {
        None | Some("strict") => {
            if let (Some((key, _)), Some(_)) = (t.get_key_value("priority_step"), step.as_ref()) {
                if order.is_none() || order.as_ref().is_some_and(|o| o.value == "strict") {
                    w.error_help(
                        key.span(),
                        "rules::conflict",
                        "`priority_step` only applies to priority_order = \"aging\"".into(),
                        "not used with strict priority",
                        "set priority_order = \"aging\" too, or remove priority_step".into(),
                    );
                }
            }
            Some(PriorityOrder::Strict)
        }
        Some("aging") => Some(PriorityOrder::Aging {
            step_ms: step.map_or(60_000, |s| s.value.max(1_000)),
        }),
        Some(other) => {
            if let Some(o) = &order {
                w.error_help(
                    o.loc.span.clone(),
                    "rules::unknown-priority-order",
                    format!("unknown priority order \"{other}\""),
                    "unknown priority order",
                    "write \"strict\" (a higher priority always goes first, as in IP Office) \
                     or \"aging\" (each priority level counts as priority_step of waiting)"
                        .into(),
                );
            }
            None
        }
    };
    if let Some(v) = t.get("balance") {
        out.balance = balance(w, v);
    }
    if let Some(v) = t.get("service_level_window") {
        out.service_level_window_ms = w
            .duration(v, "service_level_window", 24 * HOUR_MS)
            .map(|d| d.value.max(60_000));
    }
    if let Some((key, _)) = t.get_key_value("weights") {
        // Old rule files (and stored versions) still read, with a clear word on what changed.
        let loc = w.loc(key.span());
        w.push(
            Diag::warning(
                "rules::obsolete",
                "[settings.weights] no longer has any effect".to_string(),
            )
            .at(&loc, "ignored")
            .help(
                "calls are served by priority, then first come first served, and agents are \
                 chosen by tier and the queue's strategy (see FORMAT.md); for priority that \
                 ages like the old weights, set priority_order = \"aging\" and \
                 priority_step = \"60s\"",
            ),
        );
    }
}

/// `balance`: how a free agent chooses between the queues it may serve.
fn balance(w: &mut Walker<'_>, v: &Value<'_>) -> Option<Balance> {
    let name = w.string(v, "balance")?;
    match name.value.as_str() {
        "waiting-time" => Some(Balance::WaitingTime),
        "service-level" => Some(Balance::ServiceLevel),
        other => {
            w.error_help(
                name.loc.span.clone(),
                "rules::unknown-balance",
                format!("unknown balance \"{other}\""),
                "unknown balance",
                "write \"waiting-time\" (the longest-waiting call first, its wait multiplied \
                 by the queue's weight) or \"service-level\" (the queue furthest behind its \
                 service-level target first)"
                    .into(),
            );
            None
        }
    }
}

/// An IANA zone name such as `"Europe/Berlin"`, as its offset changes.
fn time_zone(w: &mut Walker<'_>, v: &Value<'_>) -> Option<UtcOffsets> {
    let name = w.string(v, "time_zone")?.value;
    if let Some(offsets) = zone_offsets(&name) {
        return Some(offsets);
    }
    let near = closest_zones(&name);
    let help = if name.starts_with(['+', '-']) {
        format!(
            "`time_zone` takes a zone name such as \"Europe/Berlin\", which follows daylight \
             saving; for an offset that never changes write `utc_offset = \"{name}\"` instead"
        )
    } else if near.is_empty() {
        "write an IANA time-zone name, for example \"Europe/Berlin\" or \"America/New_York\""
            .to_string()
    } else {
        let near: Vec<String> = near.iter().map(|z| format!("\"{z}\"")).collect();
        format!("did you mean {}?", near.join(" or "))
    };
    w.error_help(
        v.span(),
        "rules::unknown-time-zone",
        format!("`{name}` is not a known time zone"),
        "unknown time zone",
        help,
    );
    None
}

/// `"+01:00"`, `"-05:30"` or whole minutes.
fn utc_offset(w: &mut Walker<'_>, v: &Value<'_>) -> Option<i32> {
    let minutes = match v.get_ref() {
        DeValue::Integer(_) => w.integer(v, "utc_offset")?,
        DeValue::String(s) => {
            let parsed = (|| {
                let (sign, rest) = match s.as_bytes().first()? {
                    b'+' => (1, &s[1..]),
                    b'-' => (-1, &s[1..]),
                    _ => return None,
                };
                let (h, m) = rest.split_once(':')?;
                let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
                (m < 60 && h.to_string().len() <= 2).then_some(sign * (h * 60 + m))
            })();
            match parsed {
                Some(m) => m,
                None => {
                    w.error_help(
                        v.span(),
                        "rules::bad-utc-offset",
                        format!("`{s}` is not a UTC offset"),
                        "not a UTC offset",
                        "write it as \"+01:00\" or \"-05:30\"".into(),
                    );
                    return None;
                }
            }
        }
        _ => {
            w.string(v, "utc_offset");
            return None;
        }
    };
    if (-14 * 60..=14 * 60).contains(&minutes) {
        Some(minutes as i32)
    } else {
        w.error_help(
            v.span(),
            "rules::out-of-range",
            "`utc_offset` is out of range".into(),
            "out of range",
            "UTC offsets lie between -14:00 and +14:00".into(),
        );
        None
    }
}

fn rona(w: &mut Walker<'_>, v: &Value<'_>, field: &str) -> Option<Rona> {
    let t = w.table(v, field)?;
    w.check_keys(
        t,
        &[
            "ring",
            "not_ready",
            "not_ready_after",
            "ring_when_others_free",
        ],
        &format!("`{field}`"),
    );
    let defaults = acd_core::RoutingConfig::default().default_rona;
    let ring = match t.get("ring") {
        Some(v) => w.duration(v, "ring", 10 * 60_000)?.value,
        None => defaults.ring_timeout_ms,
    };
    if ring < 1_000 {
        w.error_help(
            v.span(),
            "rules::out-of-range",
            "`ring` is shorter than one second".into(),
            "too short",
            "give agents at least a few seconds to answer, for example \"15s\"".into(),
        );
        return None;
    }
    let not_ready = match t.get("not_ready") {
        Some(v) => w.duration(v, "not_ready", 24 * HOUR_MS)?.value,
        None => defaults.not_ready_ms,
    };
    let misses = match t.get("not_ready_after") {
        Some(v) => w.integer_in(v, "not_ready_after", 1..=100)? as u32,
        None => defaults.not_ready_after_misses,
    };
    let ring_when_others_free = match t.get("ring_when_others_free") {
        Some(v) => {
            let short = w.duration(v, "ring_when_others_free", 10 * 60_000)?.value;
            if !(1_000..=ring).contains(&short) {
                w.error_help(
                    v.span(),
                    "rules::out-of-range",
                    "`ring_when_others_free` must be at least one second and no longer than `ring`"
                        .into(),
                    "out of range",
                    format!(
                        "a shorter ring than `ring` ({} s) for when another agent is free, for \
                         example \"8s\"",
                        ring / 1000
                    ),
                );
                return None;
            }
            Some(short)
        }
        None => defaults.ring_when_others_free_ms,
    };
    Some(Rona {
        ring_timeout_ms: ring,
        not_ready_ms: not_ready,
        not_ready_after_misses: misses,
        ring_when_others_free_ms: ring_when_others_free,
    })
}

/// Validates a number pattern at `s`, reporting a caret under the offending character.
pub(crate) fn number_pattern(w: &mut Walker<'_>, s: &S<String>) -> bool {
    match check_number_pattern(&s.value) {
        Ok(()) => true,
        Err((offset, why)) => {
            let ch_len = s.value[offset..].chars().next().map_or(0, char::len_utf8);
            let span = w.inner_span(&s.loc, offset..offset + ch_len);
            let span = if span.is_empty() {
                s.loc.span.clone()
            } else {
                span
            };
            w.error_help(
                span,
                "rules::bad-pattern",
                format!("bad number pattern \"{}\": {why}", s.value),
                "not allowed here",
                "patterns are digits with `*` (any run of digits) and `?` (one digit), \
                 and an optional leading `+`"
                    .into(),
            );
            false
        }
    }
}

fn skill_levels(w: &mut Walker<'_>, t: &DeTable<'_>) -> Vec<SkillLevelDef> {
    let mut out = Vec::new();
    for (key, v) in t.iter() {
        let field = key.get_ref().to_string();
        if let Some(level) = w.integer_in(v, &field, 1..=10) {
            out.push(SkillLevelDef {
                skill: S {
                    value: field,
                    loc: w.loc(key.span()),
                },
                level: level as u8,
            });
        }
    }
    out
}

fn agent(w: &mut Walker<'_>, id: S<String>, t: &DeTable<'_>) -> AgentDef {
    w.check_keys(
        t,
        &[
            "name",
            "profile",
            "skills",
            "wrap_up",
            "take_calls_when_forwarded",
        ],
        &format!("agent `{}`", id.value),
    );
    let display_name = t
        .get("name")
        .and_then(|v| w.string(v, "name"))
        .map(|s| s.value);
    let profile = t.get("profile").and_then(|v| w.string(v, "profile"));
    let skills = t
        .get("skills")
        .and_then(|v| w.table(v, "skills"))
        .map(|st| skill_levels(w, st))
        .unwrap_or_default();
    let wrap_up_ms = t
        .get("wrap_up")
        .and_then(|v| w.duration(v, "wrap_up", HOUR_MS))
        .map(|d| d.value);
    let takes_calls_when_forwarded = t
        .get("take_calls_when_forwarded")
        .and_then(|v| w.boolean(v, "take_calls_when_forwarded"))
        .unwrap_or(false);
    AgentDef {
        id,
        display_name,
        profile,
        skills,
        wrap_up_ms,
        takes_calls_when_forwarded,
    }
}

fn target(w: &mut Walker<'_>, v: &Value<'_>, field: &str) -> Option<S<Target>> {
    let s = w.string(v, field)?;
    match parse_target(&s.value) {
        Ok(target) => Some(S {
            value: target,
            loc: s.loc,
        }),
        Err((message, help)) => {
            w.error_help(
                v.span(),
                "rules::bad-target",
                message,
                "not a valid target",
                help,
            );
            None
        }
    }
}

const STRATEGIES: [&str; 7] = [
    "longest-idle",
    "fewest-calls",
    "least-talk-time",
    "round-robin",
    "linear",
    "random",
    "best-skill",
];

/// A strategy as the rules write it (`longest-idle`), for texts a supervisor reads.
pub fn strategy_name(strategy: PickStrategy) -> &'static str {
    match strategy {
        PickStrategy::LongestIdle => "longest-idle",
        PickStrategy::FewestCalls => "fewest-calls",
        PickStrategy::LeastTalkTime => "least-talk-time",
        PickStrategy::RoundRobin => "round-robin",
        PickStrategy::Linear => "linear",
        PickStrategy::Random { .. } => "random",
        PickStrategy::BestSkill => "best-skill",
    }
}

/// A priority as the rules write it (`high`).
pub fn priority_name(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "low",
        Priority::Medium => "medium",
        Priority::High => "high",
    }
}

fn queue(w: &mut Walker<'_>, name: S<String>, t: &DeTable<'_>) -> QueueDef {
    w.check_keys(
        t,
        &[
            "strategy",
            "seed",
            "weight",
            "wrap_up",
            "rona",
            "max_waiting",
            "when_full",
            "when_no_agents",
            "when_no_qualified_agents",
            "calendar",
            "service_level",
            "service_level_target",
            "agents",
            "backup_agents",
            "helpers",
            "helpers_when",
            "delivery",
        ],
        &format!("queue `{}`", name.value),
    );
    let delivery = t.get("delivery").and_then(|v| delivery(w, v));
    let seed = t
        .get("seed")
        .and_then(|v| w.integer_in(v, "seed", 0..=i64::MAX))
        .unwrap_or(0) as u64;
    let strategy = match t.get("strategy").and_then(|v| w.string(v, "strategy")) {
        None => PickStrategy::LongestIdle,
        Some(s) => match s.value.as_str() {
            "longest-idle" => PickStrategy::LongestIdle,
            "fewest-calls" => PickStrategy::FewestCalls,
            "least-talk-time" => PickStrategy::LeastTalkTime,
            "round-robin" => PickStrategy::RoundRobin,
            "linear" => PickStrategy::Linear,
            "random" => PickStrategy::Random { seed },
            "best-skill" => PickStrategy::BestSkill,
            other => {
                let help = match crate::diag::suggest(other, STRATEGIES) {
                    Some(best) => format!("did you mean \"{best}\"?"),
                    None => format!("strategies are: {}", STRATEGIES.join(", ")),
                };
                w.error_help(
                    s.loc.span.clone(),
                    "rules::unknown-strategy",
                    format!("unknown strategy \"{other}\""),
                    "unknown strategy",
                    help,
                );
                PickStrategy::LongestIdle
            }
        },
    };
    let weight = match t.get("weight") {
        Some(v) => match w.number(v, "weight") {
            Some(n) if n > 0.0 && n <= 100.0 => n,
            Some(_) => {
                w.error_help(
                    v.span(),
                    "rules::out-of-range",
                    "`weight` is out of range".into(),
                    "out of range",
                    "a queue weight is above 0 and at most 100 (1.0 is normal)".into(),
                );
                1.0
            }
            None => 1.0,
        },
        None => 1.0,
    };
    let wrap_up_ms = t
        .get("wrap_up")
        .and_then(|v| w.duration(v, "wrap_up", HOUR_MS))
        .map(|d| d.value);
    let rona = t.get("rona").and_then(|v| rona(w, v, "rona"));
    let max_calls = t
        .get("max_waiting")
        .and_then(|v| w.integer_in(v, "max_waiting", 1..=10_000));
    let when_full = t.get("when_full").and_then(|v| target(w, v, "when_full"));
    let max_waiting = match (max_calls, when_full, t.get_key_value("max_waiting")) {
        (Some(n), Some(target), _) => Some((n as u32, target)),
        (Some(_), None, Some((key, _))) if t.get("when_full").is_none() => {
            w.error_help(
                key.span(),
                "rules::missing-field",
                format!(
                    "queue `{}` sets `max_waiting` but not `when_full`",
                    name.value
                ),
                "needs a target",
                "add for example when_full = \"voicemail:Sales\"".into(),
            );
            None
        }
        _ => None,
    };
    if let (Some((key, _)), None) = (t.get_key_value("when_full"), t.get("max_waiting")) {
        w.error_help(
            key.span(),
            "rules::missing-field",
            format!(
                "queue `{}` sets `when_full` but not `max_waiting`",
                name.value
            ),
            "when is the queue full?",
            "add for example max_waiting = 10".into(),
        );
    }
    let when_no_agents = t
        .get("when_no_agents")
        .and_then(|v| target(w, v, "when_no_agents"));
    let calendar = t.get("calendar").and_then(|v| calendar(w, v, &name.value));
    let mut service_level_ms = Vec::new();
    if let Some(v) = t.get("service_level") {
        for s in w.strings(v, "service_level") {
            let item = toml::Spanned::new(s.loc.span.clone(), DeValue::String(s.value.into()));
            if let Some(d) = w.duration(&item, "service_level", HOUR_MS) {
                service_level_ms.push(d.value);
            }
        }
        service_level_ms.sort_unstable();
        service_level_ms.dedup();
    }
    let service_level_target = t
        .get("service_level_target")
        .and_then(|v| percentage(w, v, "service_level_target"));
    let agents = t
        .get("agents")
        .map(|v| w.strings(v, "agents"))
        .unwrap_or_default();
    let backup_agents = t
        .get("backup_agents")
        .map(|v| w.strings(v, "backup_agents"))
        .unwrap_or_default();
    let helpers = t
        .get("helpers")
        .map(|v| w.strings(v, "helpers"))
        .unwrap_or_default();
    let helpers_when = t
        .get("helpers_when")
        .and_then(|v| state_tests(w, v, "helpers_when"))
        .unwrap_or_default();
    if let (Some((key, _)), None) = (t.get_key_value("helpers"), t.get("helpers_when")) {
        w.error_help(
            key.span(),
            "rules::missing-field",
            format!("queue `{}` has helpers but no `helpers_when`", name.value),
            "helpers for when?",
            "add for example helpers_when = \"oldest_wait > 60s\"; agents who always take \
             calls belong in `agents` or `backup_agents`"
                .into(),
        );
    }
    if let (Some((key, _)), None) = (t.get_key_value("helpers_when"), t.get("helpers")) {
        w.error_help(
            key.span(),
            "rules::missing-field",
            format!(
                "queue `{}` sets `helpers_when` but names no helpers",
                name.value
            ),
            "for whom?",
            "add for example helpers = [\"2012\"]".into(),
        );
    }
    let when_no_qualified = t
        .get("when_no_qualified_agents")
        .and_then(|v| target(w, v, "when_no_qualified_agents"));
    QueueDef {
        name,
        strategy,
        weight,
        wrap_up_ms,
        rona,
        max_waiting,
        when_no_agents,
        calendar,
        service_level_ms,
        service_level_target,
        agents,
        backup_agents,
        helpers,
        helpers_when,
        when_no_qualified,
        delivery,
    }
}

/// `delivery`: how the engine gets the queue's calls to agents (see FORMAT.md).
fn delivery(w: &mut Walker<'_>, v: &Value<'_>) -> Option<S<Delivery>> {
    let s = w.string(v, "delivery")?;
    let value = match s.value.as_str() {
        "offer" => Delivery::Offer,
        "collective" => Delivery::Collective,
        other => {
            w.error_help(
                s.loc.span.clone(),
                "rules::unknown-delivery",
                format!("unknown delivery \"{other}\""),
                "unknown delivery",
                "delivery is \"offer\" (the engine transfers each call to one agent, the \
                 default) or \"collective\" (the engine enables the chosen members of the \
                 hunt group and IP Office rings them together)"
                    .into(),
            );
            return None;
        }
    };
    Some(S { value, loc: s.loc })
}

/// A queue-state condition at `v`, with a caret under the part that is wrong.
fn state_tests(w: &mut Walker<'_>, v: &Value<'_>, field: &str) -> Option<Vec<StateTest>> {
    let s = w.string(v, field)?;
    match parse_state_tests(&s.value) {
        Ok(tests) => Some(tests),
        Err(err) => {
            let span = w.inner_span(&s.loc, err.span.clone());
            let span = if span.is_empty() {
                s.loc.span.clone()
            } else {
                span
            };
            w.error_help(
                span,
                "rules::bad-condition",
                format!("bad queue condition: {}", err.message),
                "here",
                err.help,
            );
            None
        }
    }
}

/// A share written as supervisors write it, `"80%"`, or as a fraction, `0.8`.
fn percentage(w: &mut Walker<'_>, v: &Value<'_>, field: &str) -> Option<f64> {
    let share = match v.get_ref() {
        DeValue::String(s) => s
            .trim()
            .strip_suffix('%')
            .and_then(|n| n.trim().parse::<f64>().ok())
            .map(|p| p / 100.0),
        // A wrong type or a negative number is reported by `number` itself.
        _ => Some(w.number(v, field)?),
    };
    match share {
        Some(s) if (0.0..=1.0).contains(&s) => Some(s),
        _ => {
            w.error_help(
                v.span(),
                "rules::out-of-range",
                format!("`{field}` must be a share between 0 % and 100 %"),
                "not a share",
                "write for example \"80%\" or 0.8".into(),
            );
            None
        }
    }
}

fn calendar(w: &mut Walker<'_>, v: &Value<'_>, queue: &str) -> Option<CalendarDef> {
    let t = w.table(v, "calendar")?;
    w.check_keys(
        t,
        &["open", "closed", "night", "holiday", "waiting_at_close"],
        &format!("the calendar of queue `{queue}`"),
    );
    let mut open = Vec::new();
    if let Some(v) = t.get("open") {
        for s in w.strings(v, "open") {
            match parse_window(&s.value) {
                Ok(window) => open.push(window),
                Err(why) => w.error_help(
                    s.loc.span.clone(),
                    "rules::bad-time",
                    format!("bad opening window: {why}"),
                    "not an opening window",
                    "write for example \"Mon-Fri 08:00-18:00\" or \"Sat 09:00-13:00\"".into(),
                ),
            }
        }
    }
    let mut holidays = Vec::new();
    if let Some(v) = t.get("closed") {
        for item in w.list(v, "closed") {
            let parsed = match item.get_ref() {
                DeValue::Datetime(dt) => match (dt.date, dt.time) {
                    (Some(d), None) => crate::calendar::days_from_civil(
                        d.year.into(),
                        d.month.into(),
                        d.day.into(),
                    )
                    .map(Holiday::Date),
                    _ => Err("give a date only, like 2025-12-25".to_string()),
                },
                DeValue::String(s) => parse_holiday(s),
                _ => Err(format!(
                    "expected a date, found {}",
                    crate::walk::type_name(item.get_ref())
                )),
            };
            match parsed {
                Ok(day) => {
                    if !holidays.contains(&day) {
                        holidays.push(day);
                    }
                }
                Err(why) => w.error_help(
                    item.span(),
                    "rules::bad-date",
                    format!("bad closed day: {why}"),
                    "not a date",
                    "write a date (2026-12-24), a day every year (\"12-25\"), or a day from \
                     Easter (\"easter-2\" Good Friday, \"easter+1\" Easter Monday)"
                        .into(),
                ),
            }
        }
    }
    let holiday = t.get("holiday").and_then(|v| target(w, v, "holiday"));
    let at_close = match t
        .get("waiting_at_close")
        .and_then(|v| w.string(v, "waiting_at_close"))
    {
        None => AtClose::Serve,
        Some(s) if s.value == "serve" => AtClose::Serve,
        Some(s) if s.value == "send" => AtClose::Send,
        Some(s) => {
            w.error_help(
                s.loc.span.clone(),
                "rules::out-of-range",
                format!("unknown waiting_at_close \"{}\"", s.value),
                "serve or send",
                "\"serve\": calls already waiting at closing time are still answered (default); \
                 \"send\": they go to the night target too"
                    .into(),
            );
            AtClose::Serve
        }
    };
    let night = match t.get_key_value("night") {
        Some((_, v)) => target(w, v, "night")?,
        None => {
            w.error_help(
                v.span(),
                "rules::missing-field",
                format!("the calendar of queue `{queue}` has no `night` target"),
                "calendar without night target",
                "add for example night = \"voicemail:Sales\": calls outside opening hours go there"
                    .into(),
            );
            return None;
        }
    };
    if open.is_empty() && t.get("open").is_none() {
        w.error_help(
            v.span(),
            "rules::missing-field",
            format!("the calendar of queue `{queue}` has no `open` windows"),
            "never open",
            "add for example open = [\"Mon-Fri 08:00-18:00\"]".into(),
        );
    }
    Some(CalendarDef {
        open,
        holidays,
        night,
        holiday,
        at_close,
    })
}

fn priority(w: &mut Walker<'_>, v: &Value<'_>) -> Option<Priority> {
    match v.get_ref() {
        DeValue::String(s) => match s.to_ascii_lowercase().as_str() {
            "low" => Some(Priority::Low),
            "medium" => Some(Priority::Medium),
            "high" => Some(Priority::High),
            _ => {
                w.error_help(
                    v.span(),
                    "rules::out-of-range",
                    format!("unknown priority \"{s}\""),
                    "unknown priority",
                    "priorities are \"low\", \"medium\", \"high\" (or 1, 2, 3)".into(),
                );
                None
            }
        },
        _ => w
            .integer_in(v, "priority", 1..=3)
            .and_then(|n| Priority::from_level(n as u8)),
    }
}

fn skill_expr(
    w: &mut Walker<'_>,
    v: &Value<'_>,
    field: &str,
) -> Option<(SkillExpr, Vec<S<String>>)> {
    let s = w.string(v, field)?;
    match parse_skill_expr(&s.value) {
        Ok((expr, refs)) => {
            let refs = refs
                .into_iter()
                .map(|r| S {
                    value: r.name,
                    loc: w.loc(w.inner_span(&s.loc, r.span)),
                })
                .collect();
            Some((expr, refs))
        }
        Err(err) => {
            let span = w.inner_span(&s.loc, err.span.clone());
            let loc = w.loc(span);
            let mut diag = Diag::error(
                "rules::bad-expression",
                format!("bad skill expression: {}", err.message),
            )
            .at(&loc, "here");
            diag = diag.help(err.help.unwrap_or_else(|| {
                "write for example \"deu >= 5 AND (sales OR NOT trainee)\"".into()
            }));
            w.push(diag);
            None
        }
    }
}

const ROUTE_KEYS: [&str; 14] = [
    "name", "queue", "did", "calling", "language", "trunk", "tag", "time", "days", "when",
    "requires", "priority", "steps", "comment",
];

fn route(w: &mut Walker<'_>, item: &Value<'_>, t: &DeTable<'_>) -> Option<RouteDef> {
    let name = match t.get("name") {
        Some(v) => w.string(v, "name")?,
        None => {
            w.error_help(
                item.span(),
                "rules::missing-field",
                "a route has no `name`".into(),
                "this route",
                "give every route a name, for example name = \"German sales\"; \
                 explanations and warnings use it"
                    .into(),
            );
            return None;
        }
    };
    w.check_keys(t, &ROUTE_KEYS, &format!("route \"{}\"", name.value));
    if let Some(v) = t.get("comment") {
        w.string(v, "comment");
    }
    let mut conditions = Vec::new();
    let mut queue_refs = Vec::new();
    let (mut language_refs, mut tag_refs) = (Vec::new(), Vec::new());
    if let Some(v) = t.get("queue") {
        queue_refs = w.strings(v, "queue");
        conditions.push(Condition::Queue(
            queue_refs
                .iter()
                .map(|q| QueueId(q.value.clone()))
                .collect(),
        ));
    }
    for (field, is_number) in [("did", true), ("calling", true), ("tag", false)] {
        if let Some(v) = t.get(field) {
            let mut patterns = Vec::new();
            for s in w.strings(v, field) {
                let ok = if is_number {
                    number_pattern(w, &s)
                } else if s.value.is_empty() {
                    w.error(
                        s.loc.span.clone(),
                        "rules::bad-pattern",
                        "empty tag pattern".into(),
                        "empty",
                    );
                    false
                } else {
                    true
                };
                if ok && field == "tag" {
                    tag_refs.push(s.clone());
                }
                if ok {
                    patterns.push(acd_core::Pattern::new(s.value));
                }
            }
            conditions.push(match field {
                "did" => Condition::Did(patterns),
                "calling" => Condition::CallingNumber(patterns),
                _ => Condition::Tag(patterns),
            });
        }
    }
    if let Some(v) = t.get("language") {
        let langs = w.strings(v, "language");
        language_refs.clone_from(&langs);
        conditions.push(Condition::Language(
            langs.into_iter().map(|s| s.value).collect(),
        ));
    }
    if let Some(v) = t.get("trunk") {
        let mut kinds = Vec::new();
        for s in w.strings(v, "trunk") {
            let kind = match TrunkKind::from_name(&s.value) {
                Some(kind) => kind,
                None => {
                    let other = s.value.as_str();
                    let help = match crate::diag::suggest(other, TrunkKind::NAMES) {
                        Some(best) => format!("did you mean \"{best}\"?"),
                        None => format!("trunk kinds are: {}", TrunkKind::NAMES.join(", ")),
                    };
                    w.error_help(
                        s.loc.span.clone(),
                        "rules::unknown-trunk",
                        format!("unknown trunk kind \"{other}\""),
                        "unknown trunk",
                        help,
                    );
                    continue;
                }
            };
            kinds.push(kind);
        }
        conditions.push(Condition::Trunk(kinds));
    }
    if let Some(v) = t.get("time") {
        if let Some(s) = w.string(v, "time") {
            match parse_clock_range(&s.value) {
                Ok((from_minute, to_minute)) => conditions.push(Condition::TimeOfDay {
                    from_minute,
                    to_minute,
                }),
                Err(why) => w.error_help(
                    s.loc.span.clone(),
                    "rules::bad-time",
                    format!("bad time window: {why}"),
                    "not a time window",
                    "write for example \"08:00-12:00\" (local time, see [settings] time_zone)"
                        .into(),
                ),
            }
        }
    }
    if let Some(v) = t.get("days") {
        if let Some(s) = w.string(v, "days") {
            match parse_days(&s.value) {
                Ok(days) => conditions.push(Condition::Weekdays(days)),
                Err(why) => w.error_help(
                    s.loc.span.clone(),
                    "rules::bad-time",
                    format!("bad days: {why}"),
                    "not weekdays",
                    "write for example \"Mon-Fri\", \"Sat,Sun\" or \"daily\" (local time)".into(),
                ),
            }
        }
    }
    if let Some(v) = t.get("when") {
        if let Some(tests) = state_tests(w, v, "when") {
            conditions.push(Condition::QueueState(tests));
        }
    }
    let (requires, requires_refs) = match t.get("requires") {
        Some(v) => skill_expr(w, v, "requires").unwrap_or((SkillExpr::Any, Vec::new())),
        None => (SkillExpr::Any, Vec::new()),
    };
    let priority = t.get("priority").and_then(|v| priority(w, v));
    let mut steps = Vec::new();
    if let Some(v) = t.get("steps") {
        for item in w.list(v, "steps") {
            if let Some(st) = w.table(item, "a step") {
                if let Some(step) = step(w, item, st, &name.value) {
                    steps.push(step);
                }
            }
        }
    }
    Some(RouteDef {
        name,
        conditions,
        queue_refs,
        requires,
        requires_refs,
        priority,
        steps,
        language_refs,
        tag_refs,
    })
}

fn step(w: &mut Walker<'_>, item: &Value<'_>, t: &DeTable<'_>, route: &str) -> Option<StepDef> {
    w.check_keys(
        t,
        &["after", "require", "widen", "priority", "overflow", "when"],
        &format!("a step of route \"{route}\""),
    );
    let loc = w.loc(item.span());
    // Every field is read before giving up, so all of a step's problems are reported.
    let after = match t.get("after") {
        Some(v) => w.duration(v, "after", DAY_MS),
        None => {
            w.error_help(
                item.span(),
                "rules::missing-field",
                format!("a step of route \"{route}\" has no `after`"),
                "when does this step fire?",
                "add for example after = \"30s\" (waiting time since the call arrived)".into(),
            );
            None
        }
    };
    let require = match (t.get_key_value("require"), t.get_key_value("widen")) {
        (Some((_, v)), None) => skill_expr(w, v, "require"),
        (None, Some((_, v))) => skill_expr(w, v, "widen"),
        (Some(_), Some((key, _))) => {
            w.error_help(
                key.span(),
                "rules::conflict",
                "a step sets both `require` and `widen`".into(),
                "second requirement",
                "they mean the same (the new skill requirement); keep one".into(),
            );
            None
        }
        (None, None) => None,
    };
    let priority = t.get("priority").and_then(|v| priority(w, v));
    let overflow = t.get("overflow").and_then(|v| target(w, v, "overflow"));
    let when = t
        .get("when")
        .and_then(|v| state_tests(w, v, "when"))
        .unwrap_or_default();
    if require.is_none() && priority.is_none() && overflow.is_none() {
        let has_action = ["require", "widen", "priority", "overflow"]
            .iter()
            .any(|k| t.contains_key(*k));
        if !has_action {
            w.error_help(
                item.span(),
                "rules::missing-field",
                format!("a step of route \"{route}\" does nothing"),
                "no action",
                "a step sets `require` (or `widen`), `priority` or `overflow`".into(),
            );
        }
        return None;
    }
    Some(StepDef {
        loc,
        after: after?,
        require,
        priority,
        overflow,
        when,
    })
}
