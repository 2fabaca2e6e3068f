//! `acd study`: runs the routing-quality study and prints its tables, then one JSON line with
//! every figure. Without `--scenario` it runs the studies shipped in `scenarios/`, so the one
//! command `acd study` reproduces the tables in `BENCHMARKS.md`.

use std::path::{Path, PathBuf};

use super::error::StudyError;
use super::file::Study;
use super::report::markdown;
use super::run::{run_study_with, RunOptions, StudyReport};
use super::start::StudyStart;

/// The studies shipped with the repository, run when no file is named.
pub const SHIPPED: [(&str, &str); 18] = [
    (
        "scenarios/study-single-skill.toml",
        include_str!("../../scenarios/study-single-skill.toml"),
    ),
    (
        "scenarios/study-multi-skill.toml",
        include_str!("../../scenarios/study-multi-skill.toml"),
    ),
    (
        "scenarios/study-multi-skill-proficiency.toml",
        include_str!("../../scenarios/study-multi-skill-proficiency.toml"),
    ),
    (
        "scenarios/study-realistic-overflow.toml",
        include_str!("../../scenarios/study-realistic-overflow.toml"),
    ),
    (
        "scenarios/study-unanswered.toml",
        include_str!("../../scenarios/study-unanswered.toml"),
    ),
    (
        "scenarios/study-unbalanced-day.toml",
        include_str!("../../scenarios/study-unbalanced-day.toml"),
    ),
    (
        "scenarios/study-vip-did.toml",
        include_str!("../../scenarios/study-vip-did.toml"),
    ),
    (
        "scenarios/study-scarce-skill.toml",
        include_str!("../../scenarios/study-scarce-skill.toml"),
    ),
    (
        "scenarios/study-safety-net.toml",
        include_str!("../../scenarios/study-safety-net.toml"),
    ),
    (
        "scenarios/study-low-load-missed-rings.toml",
        include_str!("../../scenarios/study-low-load-missed-rings.toml"),
    ),
    (
        "scenarios/study-scarce-senior.toml",
        include_str!("../../scenarios/study-scarce-senior.toml"),
    ),
    (
        "scenarios/study-personal-voicemail.toml",
        include_str!("../../scenarios/study-personal-voicemail.toml"),
    ),
    (
        "scenarios/study-personal-voicemail-mistake.toml",
        include_str!("../../scenarios/study-personal-voicemail-mistake.toml"),
    ),
    (
        "scenarios/study-demo.toml",
        include_str!("../../scenarios/study-demo.toml"),
    ),
    (
        "scenarios/study-low-load-missed-rings-collective.toml",
        include_str!("../../scenarios/study-low-load-missed-rings-collective.toml"),
    ),
    (
        "scenarios/study-single-skill-collective.toml",
        include_str!("../../scenarios/study-single-skill-collective.toml"),
    ),
    (
        "scenarios/study-realistic-overflow-collective.toml",
        include_str!("../../scenarios/study-realistic-overflow-collective.toml"),
    ),
    (
        "scenarios/study-multi-skill-collective.toml",
        include_str!("../../scenarios/study-multi-skill-collective.toml"),
    ),
];

#[derive(Debug, Clone, Default)]
pub struct StudyCliOptions {
    pub scenario: Option<PathBuf>,
    pub run: RunOptions,
    /// Overrides every study's `[study] start`.
    pub start: Option<StudyStart>,
    /// Runs every study with this rules directory instead of its own `[rules]`.
    pub rules: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum StudyCliError {
    #[error(transparent)]
    Study(#[from] Box<StudyError>),
    #[error("study {file}: {source}")]
    Run {
        file: String,
        #[source]
        source: Box<crate::sim::SimError>,
    },
}

/// Loads the named study (or the shipped ones), runs it, prints the tables on stdout and a
/// JSON line with all reports last.
pub fn run_cli(options: &StudyCliOptions) -> Result<Vec<StudyReport>, StudyCliError> {
    let studies = match &options.scenario {
        Some(path) => vec![Study::load(path).map_err(Box::new)?],
        None => SHIPPED
            .iter()
            .map(|(name, text)| {
                let path = Path::new(name);
                Study::from_toml_str(text, path, path.parent().unwrap_or(Path::new(".")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(Box::new)?,
    };
    let studies = studies
        .into_iter()
        .map(|mut study| {
            if options.start.is_some() {
                study.start = options.start;
            }
            match &options.rules {
                Some(dir) => study.with_rules_dir(dir).map_err(Box::new),
                None => Ok(study),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut reports = Vec::new();
    let started = std::time::Instant::now();
    for (k, study) in studies.iter().enumerate() {
        // Progress on stderr, one line per step (also readable in a log): the shipped studies
        // take tens of seconds before the first table, which looked like a hang.
        let name = &study.settings.name;
        eprintln!(
            "acd study: {name} ({} of {}) from {}",
            k + 1,
            studies.len(),
            study.path.display()
        );
        let mut progress = |done: usize, of: usize| {
            eprintln!(
                "acd study: {name}: seed {done} of {of} done ({:.0} s so far)",
                started.elapsed().as_secs_f64()
            );
        };
        let report = run_study_with(study, options.run, &mut progress).map_err(|source| {
            StudyCliError::Run {
                file: study.path.display().to_string(),
                source: Box::new(source),
            }
        })?;
        println!("{}", markdown(&report));
        reports.push(report);
    }
    println!(
        "{}",
        serde_json::to_string(&reports).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    );
    Ok(reports)
}
