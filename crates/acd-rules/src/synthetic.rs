//! Synthetic rulesets of a chosen size, for measuring how checking scales.
//!
//! Real contact centres are small, but a generated or merged ruleset can be large, and
//! `acd rules check` must stay near-linear in it. The generator is deterministic and produces
//! a valid ruleset (skills, profiles, agents, queues with calendars and transfer chains,
//! routes with widen and overflow steps), so every check runs over it, not just the parser.

use crate::SourceFile;
use std::fmt::Write as _;

/// A valid ruleset with `n` skills and agents, `n / 10` queues and profiles, `n / 5` routes.
pub fn ruleset(n: usize) -> Vec<SourceFile> {
    let n = n.max(10);
    let queues = n / 10;
    let profiles = n / 10;
    let routes = n / 5;
    let mut text = String::with_capacity(n * 400);
    text.push_str(
        "[settings]\nutc_offset = \"+01:00\"\ndefault_wrap_up = \"10s\"\n\
         allowed_transfer_targets = [\"+4930*\"]\n\n[skills]\n",
    );
    for s in 0..n {
        let _ = writeln!(text, "s{s} = \"skill {s}\"");
    }
    for p in 0..profiles {
        let _ = writeln!(
            text,
            "\n[profiles.p{p}]\ns{} = 8\ns{} = 6\ns{} = 4",
            p % n,
            (p + 1) % n,
            (p + 2) % n
        );
    }
    for a in 0..n {
        let _ = writeln!(
            text,
            "\n[agents.{}]\nname = \"Agent {a}\"\nprofile = \"p{}\"\nskills = {{ s{} = 7 }}",
            1000 + a,
            (a / 10) % profiles,
            a % n
        );
    }
    for q in 0..queues {
        let members: Vec<String> = (0..10)
            .map(|i| format!("\"{}\"", 1000 + q * 10 + i))
            .collect();
        let full = if q + 1 < queues {
            format!("queue:q{}", q + 1)
        } else {
            "voicemail:q0".to_string()
        };
        let _ = writeln!(
            text,
            "\n[queues.q{q}]\nstrategy = \"best-skill\"\nmax_waiting = 10\n\
             when_full = \"{full}\"\nwhen_no_agents = \"voicemail:q{q}\"\n\
             agents = [{}]\n\n[queues.q{q}.calendar]\nopen = [\"Mon-Fri 08:00-18:00\"]\n\
             closed = [2025-12-25]\nnight = \"voicemail:q{q}\"",
            members.join(", ")
        );
    }
    for r in 0..routes {
        let q = r % queues;
        // The skills of the queue's first profile, so some agent can always take the call.
        let p = q % profiles;
        let overflow = if q + 1 < queues {
            format!("queue:q{}", q + 1)
        } else {
            "external:+4930123456".to_string()
        };
        let _ = writeln!(
            text,
            "\n[[routes]]\nname = \"route {r}\"\nqueue = \"q{q}\"\nlanguage = \"{}\"\n\
             did = [\"49{r}*\"]\nrequires = \"s{} >= 8 AND s{} >= 6\"\n\n\
             [[routes.steps]]\nafter = \"30s\"\nwiden = \"s{} >= 3\"\n\n\
             [[routes.steps]]\nafter = \"3m\"\noverflow = \"{overflow}\"",
            language_code(r),
            p % n,
            (p + 1) % n,
            p % n
        );
    }
    vec![SourceFile::new("rules.toml", text)]
}

/// A made-up language code for route `r`, shaped like a real one (three letters), so the
/// synthetic rules draw no "no call can have this language" warning.
fn language_code(r: usize) -> String {
    let letter = |i: usize| char::from(b'a' + (i % 26) as u8);
    format!("l{}{}", letter(r / 26), letter(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The work of checking (units charged by every loop that examines other items) must grow
    /// near-linearly: quadrupling the ruleset may not much more than quadruple it. A quadratic
    /// lookup anywhere makes the ratio approach 16.
    #[test]
    fn checking_work_grows_near_linearly() {
        let work = |n: usize| {
            let (checked, units) = crate::cost::measure(|| crate::check_sources(ruleset(n)));
            assert!(checked.is_ok(), "{}", checked.report.render());
            units
        };
        let small = work(1_000);
        let large = work(4_000);
        assert!(small > 0);
        let ratio = large as f64 / small as f64;
        assert!(
            ratio < 4.0 * 1.25,
            "4x the rules took {ratio:.1}x the work ({small} -> {large} units)"
        );
    }

    #[test]
    fn synthetic_ruleset_is_valid_and_sized() {
        let checked = crate::check_sources(ruleset(100));
        assert!(checked.is_ok(), "{}", checked.report.render());
        assert_eq!(checked.report.warnings(), 0, "{}", checked.report.render());
        assert_eq!(checked.config.agents.len(), 100);
        assert_eq!(checked.config.queues.len(), 10);
        assert_eq!(checked.config.routes.len(), 20);
    }
}
