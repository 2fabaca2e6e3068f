//! Study files: one TOML file holding a simulator scenario, the routing rules the engine runs
//! on it, and which hunt-group modes to compare it with.
//!
//! Keeping all three in one file is what makes a comparison reproducible: the traffic, the
//! staffing and the rules can only change together, and `acd study --scenario FILE` names
//! everything that went into a table. The scenario part is the ordinary simulator format
//! (`[sim]`, `[[user]]`, `[[queue]]`, …); `[study]` and `[rules]` are added beside it, and
//! `[rules]` holds exactly what a file in `routing-rules/` would (`[rules.settings]`,
//! `[rules.agents.2001]`, `[[rules.routes]]`, …).
//!
//! One exception keeps a study of the demo from drifting away from the demo: `[study] scenario
//! = "built-in"` and `rules = "built-in"` take the scenario and the example rules `acd demo`
//! runs (built into the binary from `scenarios/default.toml` and `routing-rules/`) instead of
//! copies in the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use acd_core::RoutingConfig;
use serde::Deserialize;

use super::error::StudyError;
use super::net::NetSweep;
use super::start::StudyStart;
use crate::sim::scenario::RingMode;
use crate::sim::Scenario;

/// The `[study]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudySettings {
    /// A short name for the table heading.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Virtual hours to run when the command line does not say.
    #[serde(default = "default_hours")]
    pub hours: f64,
    /// Native ring modes to compare with (default: all four).
    #[serde(default = "all_modes")]
    pub native_modes: Vec<RingMode>,
    /// How many seeds to run (from the scenario's seed up), reported as mean and spread.
    #[serde(default = "one_seed")]
    pub seeds: u32,
    /// One-way delay between the engine and the PBX, in milliseconds.
    #[serde(default = "default_latency")]
    pub command_latency_ms: u64,
    /// When virtual time begins, e.g. "2026-12-07T08:00" (local time in the rules' zone) or
    /// "2026-12-07T08:00Z" (UTC); 1970-01-01 00:00 UTC when left out. See [`StudyStart`].
    #[serde(default)]
    pub start: Option<String>,
    /// Engine arms with the safety net at each of these overflow times beside the plain
    /// engine arm, and the same set-ups with no engine at all (see `net`).
    #[serde(default)]
    pub safety_net: Option<NetSweep>,
    /// Also run the tuned native set-ups (`baselines`: the Overflow Time sweep and every
    /// qualified agent listed, in each ring mode) and compare the engine with the best of them.
    /// On by default; a study meant only to look at something else may turn it off.
    #[serde(default = "yes")]
    pub native_sweep: bool,
    /// "built-in": the scenario `acd demo` runs, instead of one written in this file.
    #[serde(default)]
    pub scenario: Option<String>,
    /// "built-in": the example rules `acd demo` runs, instead of a `[rules]` table.
    #[serde(default)]
    pub rules: Option<String>,
}

/// The only value `[study] scenario` and `[study] rules` take.
const BUILT_IN: &str = "built-in";

fn yes() -> bool {
    true
}

fn default_hours() -> f64 {
    8.0
}

fn one_seed() -> u32 {
    1
}

fn default_latency() -> u64 {
    20
}

/// Every ring mode IP Office offers a hunt group.
pub(crate) fn all_modes() -> Vec<RingMode> {
    vec![
        RingMode::Collective,
        RingMode::Sequential,
        RingMode::Rotary,
        RingMode::LongestWaiting,
    ]
}

/// A loaded, checked study.
#[derive(Debug, Clone)]
pub struct Study {
    pub path: PathBuf,
    pub settings: StudySettings,
    pub scenario: Scenario,
    pub rules: Arc<RoutingConfig>,
    /// Where the rules came from when not the file's own `[rules]` (`--rules DIR`).
    pub rules_dir: Option<PathBuf>,
    /// When virtual time begins (`[study] start`, or `--start`).
    pub start: Option<StudyStart>,
}

impl Study {
    pub fn load(path: &Path) -> Result<Study, StudyError> {
        let text = std::fs::read_to_string(path).map_err(|source| StudyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Study::from_toml_str(&text, path, base)
    }

    /// Parses a study; `path` is only used in error messages, `base_dir` resolves the
    /// scenario's relative paths (trace files).
    pub fn from_toml_str(text: &str, path: &Path, base_dir: &Path) -> Result<Study, StudyError> {
        let invalid = |message: String| StudyError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let mut table: toml::Table = toml::from_str(text).map_err(|source| StudyError::Syntax {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        let settings = table
            .remove("study")
            .ok_or_else(|| invalid("missing [study] table".into()))?;
        let settings: StudySettings = settings
            .try_into()
            .map_err(|e: toml::de::Error| invalid(format!("[study]: {e}")))?;
        if !(settings.hours.is_finite() && settings.hours > 0.0) {
            return Err(invalid("[study] hours must be > 0".into()));
        }
        let start = settings
            .start
            .as_deref()
            .map(str::parse::<StudyStart>)
            .transpose()
            .map_err(|e| invalid(format!("[study] start: {e}")))?;
        let rules = match (table.remove("rules"), settings.rules.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "both a [rules] table and [study] rules: keep one".into(),
                ))
            }
            (Some(toml::Value::Table(t)), None) => {
                let text = toml::to_string(&t)
                    .map_err(|e| invalid(format!("[rules] cannot be re-serialised: {e}")))?;
                compile_rules(&text, path)?
            }
            (Some(_), None) => return Err(invalid("[rules] must be a table".into())),
            (None, Some(BUILT_IN)) => built_in_rules(path)?,
            (None, Some(other)) => {
                return Err(invalid(format!(
                    "[study] rules = \"{other}\": the only value is \"{BUILT_IN}\" (the \
                     example rules `acd demo` runs); give a directory with --rules DIR"
                )))
            }
            (None, None) => {
                return Err(invalid(format!(
                    "missing [rules] table (or [study] rules = \"{BUILT_IN}\")"
                )))
            }
        };
        let scenario = match settings.scenario.as_deref() {
            None => {
                let text = toml::to_string(&table)
                    .map_err(|e| invalid(format!("scenario cannot be re-serialised: {e}")))?;
                Scenario::from_toml_str(&text, base_dir)
            }
            Some(BUILT_IN) if table.is_empty() => Scenario::default_scenario(),
            Some(BUILT_IN) => {
                let extra: Vec<&String> = table.keys().collect();
                return Err(invalid(format!(
                    "[study] scenario = \"{BUILT_IN}\" takes the demo's scenario as it is, but \
                     the file also has {extra:?}"
                )));
            }
            Some(other) => {
                return Err(invalid(format!(
                    "[study] scenario = \"{other}\": the only value is \"{BUILT_IN}\" (the \
                     scenario `acd demo` runs)"
                )))
            }
        }
        .map_err(|source| StudyError::Scenario {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        check_fit(&scenario, &rules).map_err(invalid)?;
        check_sweep(settings.safety_net.as_ref(), &scenario, &rules).map_err(invalid)?;
        Ok(Study {
            path: path.to_path_buf(),
            settings,
            scenario,
            rules: Arc::new(rules),
            rules_dir: None,
            start,
        })
    }

    /// The same study with the rules of a rules directory (as `acd rules check DIR` reads it)
    /// instead of the file's own `[rules]`: how a supervisor tries the rules they are about to
    /// apply on the study's traffic and staffing.
    pub fn with_rules_dir(mut self, dir: &Path) -> Result<Study, StudyError> {
        let files = acd_rules::read_dir(dir).map_err(|e| StudyError::Invalid {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let rules = match acd_rules::check_sources(files).into_result() {
            Ok((config, _warnings)) => config,
            Err(report) => {
                return Err(StudyError::Rules {
                    path: dir.to_path_buf(),
                    report: report.render(),
                })
            }
        };
        check_fit(&self.scenario, &rules)
            .and_then(|()| check_sweep(self.settings.safety_net.as_ref(), &self.scenario, &rules))
            .map_err(|message| StudyError::Invalid {
                path: self.path.clone(),
                message: format!("with the rules in {}: {message}", dir.display()),
            })?;
        self.rules = Arc::new(rules);
        self.rules_dir = Some(dir.to_path_buf());
        Ok(self)
    }
}

/// The rules route only queues the scenario has, and describe its agents as it does; a
/// safety net's group is not one the rules route.
fn check_fit(scenario: &Scenario, rules: &RoutingConfig) -> Result<(), String> {
    for queue in rules.queues.keys() {
        if !scenario.queues.iter().any(|q| q.name == queue.0) {
            return Err(format!(
                "the rules route queue '{queue}', which the scenario does not have"
            ));
        }
    }
    if let Some(net) = &scenario.engine.safety_net {
        check_net_group(&net.group, rules)?;
    }
    check_proficiencies(scenario, rules)
}

/// A safety group the engine routed would have its members disabled like every routed
/// group's: nobody would answer when the engine is down.
fn check_net_group(group: &str, rules: &RoutingConfig) -> Result<(), String> {
    if rules.queues.contains_key(&acd_core::QueueId::from(group)) {
        return Err(format!(
            "the safety net's group '{group}' is routed by the rules: its members would be \
             disabled like every routed group's, and nobody would answer while no engine is up"
        ));
    }
    Ok(())
}

/// `[study] safety_net`: at least one overflow time, and each makes a valid scenario.
fn check_sweep(
    sweep: Option<&NetSweep>,
    scenario: &Scenario,
    rules: &RoutingConfig,
) -> Result<(), String> {
    let Some(sweep) = sweep else {
        return Ok(());
    };
    if sweep.after_s.is_empty() {
        return Err("[study] safety_net: after_s lists no overflow time".into());
    }
    check_net_group(&sweep.group, rules)?;
    for &after_s in &sweep.after_s {
        let mut with = scenario.clone();
        with.engine.safety_net = Some(sweep.at(after_s));
        with.validate()
            .map_err(|e| format!("[study] safety_net at {after_s} s: {e}"))?;
    }
    Ok(())
}

/// The simulator's proficiencies (which set talk time) and the rules' skill levels (which the
/// engine routes on) describe the same people: when the scenario models proficiency, every
/// agent the rules know must have exactly the levels the rules give it, or the engine would be
/// routing on a different reality than the one it is measured in.
fn check_proficiencies(scenario: &Scenario, rules: &RoutingConfig) -> Result<(), String> {
    for user in &scenario.users {
        let Some(agent) = rules.agents.get(&acd_core::AgentId(user.extn.clone())) else {
            continue;
        };
        if user.skills.is_empty() && scenario.sim.skill_talk_factor == 0.0 {
            continue;
        }
        if user.skills != agent.skills {
            return Err(format!(
                "user {}: simulator skills {:?} differ from the rules' levels {:?}",
                user.extn, user.skills, agent.skills
            ));
        }
    }
    Ok(())
}

/// The example rules `acd demo` runs, checked as `acd rules check routing-rules/` would.
fn built_in_rules(path: &Path) -> Result<RoutingConfig, StudyError> {
    let files = crate::daemon::example_rules::FILES
        .iter()
        .map(|(name, text)| acd_rules::SourceFile::new(name.to_string(), text.to_string()))
        .collect();
    match acd_rules::check_sources(files).into_result() {
        Ok((config, _warnings)) => Ok(config),
        Err(report) => Err(StudyError::Rules {
            path: path.to_path_buf(),
            report: report.render(),
        }),
    }
}

fn compile_rules(text: &str, path: &Path) -> Result<RoutingConfig, StudyError> {
    let name = format!(
        "{}#rules",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let checked = acd_rules::check_sources(vec![acd_rules::SourceFile::new(name, text)]);
    match checked.into_result() {
        Ok((config, _warnings)) => Ok(config),
        Err(report) => Err(StudyError::Rules {
            path: path.to_path_buf(),
            report: report.render(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
        [study]
        name = "tiny"
        hours = 1

        [[user]]
        extn = "201"
        name = "A"

        [[queue]]
        name = "Q"
        extn = "300"
        members = ["201"]

        [rules.settings]
        default_wrap_up = "0s"

        [rules.skills]
        eng = "English"

        [rules.agents.201]
        skills = { eng = 5 }

        [rules.queues.Q]
        strategy = "longest-idle"
        agents = ["201"]
    "#;

    #[test]
    fn a_study_file_splits_into_scenario_rules_and_settings() {
        let s = Study::from_toml_str(SMALL, Path::new("tiny.toml"), Path::new(".")).unwrap();
        assert_eq!(s.settings.name, "tiny");
        assert_eq!(s.settings.native_modes.len(), 4);
        assert_eq!(s.scenario.queues[0].name, "Q");
        assert!(s.rules.queues.contains_key(&acd_core::QueueId::from("Q")));
    }

    #[test]
    fn the_demos_scenario_and_rules_come_from_the_binary() {
        let text = "[study]\nname = \"demo\"\nscenario = \"built-in\"\nrules = \"built-in\"\n";
        let s = Study::from_toml_str(text, Path::new("d.toml"), Path::new(".")).unwrap();
        let demo = Scenario::default_scenario().unwrap();
        let names = |s: &Scenario| s.queues.iter().map(|q| q.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&s.scenario), names(&demo));
        assert_eq!(s.scenario.users.len(), demo.users.len());
        // Every route of the example rules, in order.
        let routes: Vec<&str> = s.rules.routes.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(routes.first(), Some(&"VIP German sales"), "{routes:?}");
        assert_eq!(routes.len(), 5, "{routes:?}");
    }

    #[test]
    fn built_in_sources_are_refused_when_mixed_or_misnamed() {
        let refused = |text: &str, says: &str| {
            let e = Study::from_toml_str(text, Path::new("d.toml"), Path::new(".")).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        };
        // A [rules] table and rules = "built-in" together: which one ran would be a guess.
        refused(
            &SMALL.replace("hours = 1\n", "hours = 1\nrules = \"built-in\"\n"),
            "keep one",
        );
        refused(
            &SMALL.replace("hours = 1\n", "hours = 1\nscenario = \"built-in\"\n"),
            "also has",
        );
        refused(
            "[study]\nname = \"x\"\nscenario = \"default.toml\"\nrules = \"built-in\"\n",
            "the only value",
        );
        refused(
            "[study]\nname = \"x\"\nscenario = \"built-in\"\n",
            "missing [rules]",
        );
    }

    #[test]
    fn rules_for_a_queue_the_scenario_lacks_are_refused() {
        let text = SMALL.replace("[rules.queues.Q]", "[rules.queues.Other]");
        let e = Study::from_toml_str(&text, Path::new("x.toml"), Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("Other"), "{e}");
    }

    #[test]
    fn broken_rules_are_reported_with_the_file_name() {
        let text = SMALL.replace("strategy = \"longest-idle\"", "strategy = \"psychic\"");
        let e = Study::from_toml_str(&text, Path::new("x.toml"), Path::new(".")).unwrap_err();
        assert!(matches!(e, StudyError::Rules { .. }), "{e}");
    }

    #[test]
    fn simulator_proficiency_must_match_the_rules_levels() {
        let with = |levels: &str| {
            SMALL.replace(
                "name = \"A\"\n",
                &format!("name = \"A\"\nskills = {levels}\n"),
            )
        };
        assert!(Study::from_toml_str(&with("{ eng = 5 }"), Path::new("x"), Path::new(".")).is_ok());
        let e =
            Study::from_toml_str(&with("{ eng = 6 }"), Path::new("x"), Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("user 201"), "{e}");
        // With the rule switched on, a user without levels is a mismatch too.
        let on = SMALL.replace("[[user]]", "[sim]\nskill_talk_factor = 0.5\n\n[[user]]");
        assert!(Study::from_toml_str(&on, Path::new("x"), Path::new(".")).is_err());
    }

    #[test]
    fn a_start_in_the_study_table_is_parsed_and_checked() {
        let s = Study::from_toml_str(SMALL, Path::new("x"), Path::new(".")).unwrap();
        assert_eq!(s.start, None);
        let with = SMALL.replace("hours = 1\n", "hours = 1\nstart = \"2026-12-07T08:00\"\n");
        let s = Study::from_toml_str(&with, Path::new("x"), Path::new(".")).unwrap();
        assert!(matches!(
            s.start,
            Some(StudyStart::Local { minute: 480, .. })
        ));
        let bad = SMALL.replace("hours = 1\n", "hours = 1\nstart = \"Monday\"\n");
        let e = Study::from_toml_str(&bad, Path::new("x"), Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("[study] start"), "{e}");
    }

    #[test]
    fn a_rules_directory_replaces_the_files_rules_and_must_fit_the_scenario() {
        let s = Study::from_toml_str(SMALL, Path::new("x"), Path::new(".")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rules = "[skills]\neng = \"English\"\n[agents.201]\nskills = { eng = 5 }\n\
                     [queues.Q]\nstrategy = \"fewest-calls\"\n";
        std::fs::write(dir.path().join("rules.toml"), rules).unwrap();
        let s2 = s.clone().with_rules_dir(dir.path()).unwrap();
        assert_eq!(s2.rules_dir.as_deref(), Some(dir.path()));
        let q = &s2.rules.queues[&acd_core::QueueId::from("Q")];
        assert_eq!(q.strategy, acd_core::PickStrategy::FewestCalls);
        std::fs::write(
            dir.path().join("rules.toml"),
            rules.replace("[queues.Q]", "[queues.Elsewhere]"),
        )
        .unwrap();
        let e = s.with_rules_dir(dir.path()).unwrap_err();
        assert!(e.to_string().contains("Elsewhere"), "{e}");
    }

    #[test]
    fn missing_tables_are_named() {
        let e = Study::from_toml_str("[sim]\nseed = 1\n", Path::new("x.toml"), Path::new("."))
            .unwrap_err();
        assert!(e.to_string().contains("[study]"), "{e}");
    }
}
