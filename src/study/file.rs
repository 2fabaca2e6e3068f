//! Study files: one TOML file holding a simulator scenario, the routing rules the engine runs
//! on it, and which hunt-group modes to compare it with.
//!
//! Keeping all three in one file is what makes a comparison reproducible: the traffic, the
//! staffing and the rules can only change together, and `acd study --scenario FILE` names
//! everything that went into a table. The scenario part is the ordinary simulator format
//! (`[sim]`, `[[user]]`, `[[queue]]`, …); `[study]` and `[rules]` are added beside it, and
//! `[rules]` holds exactly what a file in `routing-rules/` would (`[rules.settings]`,
//! `[rules.agents.2001]`, `[[rules.routes]]`, …).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use acd_core::RoutingConfig;
use serde::Deserialize;

use super::error::StudyError;
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
    /// One-way delay between the engine and the PBX, in milliseconds.
    #[serde(default = "default_latency")]
    pub command_latency_ms: u64,
}

fn default_hours() -> f64 {
    8.0
}

fn default_latency() -> u64 {
    20
}

fn all_modes() -> Vec<RingMode> {
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
        let rules = table
            .remove("rules")
            .ok_or_else(|| invalid("missing [rules] table".into()))?;
        let rules_text = match rules {
            toml::Value::Table(t) => toml::to_string(&t)
                .map_err(|e| invalid(format!("[rules] cannot be re-serialised: {e}")))?,
            _ => return Err(invalid("[rules] must be a table".into())),
        };
        let scenario_text = toml::to_string(&table)
            .map_err(|e| invalid(format!("scenario cannot be re-serialised: {e}")))?;
        let scenario = Scenario::from_toml_str(&scenario_text, base_dir).map_err(|source| {
            StudyError::Scenario {
                path: path.to_path_buf(),
                source: Box::new(source),
            }
        })?;
        let rules = compile_rules(&rules_text, path)?;
        for queue in rules.queues.keys() {
            if !scenario.queues.iter().any(|q| q.name == queue.0) {
                return Err(invalid(format!(
                    "the rules route queue '{queue}', which the scenario does not have"
                )));
            }
        }
        check_proficiencies(&scenario, &rules).map_err(invalid)?;
        Ok(Study {
            path: path.to_path_buf(),
            settings,
            scenario,
            rules: Arc::new(rules),
        })
    }
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
    fn missing_tables_are_named() {
        let e = Study::from_toml_str("[sim]\nseed = 1\n", Path::new("x.toml"), Path::new("."))
            .unwrap_err();
        assert!(e.to_string().contains("[study]"), "{e}");
    }
}
