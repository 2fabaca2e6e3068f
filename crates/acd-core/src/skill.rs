//! Evaluating required-skills expressions against an agent's skills.
//!
//! Kept apart from the engine because the same evaluation answers three questions: may this
//! agent take the call (match), how well does the agent fit it (score), and which skills must
//! every matching agent hold (so the engine can start from a small per-skill index instead of
//! scanning every agent).

use crate::config::{SkillExpr, SkillLevel};
use std::collections::BTreeMap;
use std::fmt;

/// The best fit any agent can have (the highest skill level).
pub const MAX_FIT: f64 = 10.0;

/// Whether `skills` satisfy `expr`.
pub fn matches(expr: &SkillExpr, skills: &BTreeMap<String, SkillLevel>) -> bool {
    fit_parts(expr, skills).is_some()
}

/// How well `skills` fit `expr`, from 0 to [`MAX_FIT`]: the mean level of the skills the
/// expression names that the agent used to satisfy it (the best branch of an OR). `None` when
/// the agent does not satisfy the expression. `Any` and `NOT` contribute no level, so an
/// expression that names no skill fits every matching agent at 0.
pub fn fit(expr: &SkillExpr, skills: &BTreeMap<String, SkillLevel>) -> Option<f64> {
    fit_parts(expr, skills).map(|(sum, count)| {
        if count == 0 {
            0.0
        } else {
            (sum / f64::from(count)).min(MAX_FIT)
        }
    })
}

/// (sum of levels, number of skills) along the satisfying path.
fn fit_parts(expr: &SkillExpr, skills: &BTreeMap<String, SkillLevel>) -> Option<(f64, u32)> {
    match expr {
        SkillExpr::Any => Some((0.0, 0)),
        SkillExpr::Skill { name, min_level } => skills
            .get(name)
            .filter(|level| **level >= *min_level)
            .map(|level| (f64::from(*level), 1)),
        SkillExpr::And(parts) => {
            let mut total = (0.0, 0);
            for part in parts {
                let (sum, count) = fit_parts(part, skills)?;
                total = (total.0 + sum, total.1 + count);
            }
            Some(total)
        }
        SkillExpr::Or(parts) => {
            let mut best: Option<(f64, u32)> = None;
            for part in parts {
                if let Some(candidate) = fit_parts(part, skills) {
                    let better = match best {
                        None => true,
                        Some(current) => mean(candidate) > mean(current),
                    };
                    if better {
                        best = Some(candidate);
                    }
                }
            }
            best
        }
        SkillExpr::Not(inner) => match fit_parts(inner, skills) {
            Some(_) => None,
            None => Some((0.0, 0)),
        },
    }
}

fn mean((sum, count): (f64, u32)) -> f64 {
    if count == 0 {
        0.0
    } else {
        sum / f64::from(count)
    }
}

/// Skills every agent matching `expr` must hold (the conjunctive skill terms). The engine
/// intersects the per-skill availability index on the rarest of them; an empty list means the
/// expression gives no such handle (`Any`, `OR`, `NOT`) and the queue's own index is used.
pub fn required_skills(expr: &SkillExpr) -> Vec<&str> {
    let mut out = Vec::new();
    collect_required(expr, &mut out);
    out
}

fn collect_required<'a>(expr: &'a SkillExpr, out: &mut Vec<&'a str>) {
    match expr {
        SkillExpr::Skill { name, .. } => out.push(name.as_str()),
        SkillExpr::And(parts) => {
            for part in parts {
                collect_required(part, out);
            }
        }
        SkillExpr::Any | SkillExpr::Or(_) | SkillExpr::Not(_) => {}
    }
}

/// Renders the expression the way supervisors write it (for explanations and logs).
pub struct ExprDisplay<'a>(pub &'a SkillExpr);

impl fmt::Display for ExprDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            SkillExpr::Any => f.write_str("any"),
            SkillExpr::Skill { name, min_level } => write!(f, "{name}>={min_level}"),
            SkillExpr::And(parts) => join(f, parts, " AND "),
            SkillExpr::Or(parts) => join(f, parts, " OR "),
            SkillExpr::Not(inner) => write!(f, "NOT {}", ExprDisplay(inner)),
        }
    }
}

fn join(f: &mut fmt::Formatter<'_>, parts: &[SkillExpr], sep: &str) -> fmt::Result {
    f.write_str("(")?;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{}", ExprDisplay(part))?;
    }
    f.write_str(")")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skills(list: &[(&str, u8)]) -> BTreeMap<String, SkillLevel> {
        list.iter().map(|(n, l)| (n.to_string(), *l)).collect()
    }

    fn s(name: &str, min_level: u8) -> SkillExpr {
        SkillExpr::Skill {
            name: name.into(),
            min_level,
        }
    }

    #[test]
    fn skill_level_threshold() {
        let a = skills(&[("deu", 6)]);
        assert_eq!(fit(&s("deu", 5), &a), Some(6.0));
        assert_eq!(fit(&s("deu", 7), &a), None);
        assert_eq!(fit(&s("eng", 1), &a), None);
    }

    #[test]
    fn and_averages_or_takes_best_not_excludes() {
        let a = skills(&[("deu", 6), ("sales", 8), ("support", 2)]);
        let and = SkillExpr::And(vec![s("deu", 5), s("sales", 1)]);
        assert_eq!(fit(&and, &a), Some(7.0));
        let or = SkillExpr::Or(vec![s("support", 1), s("sales", 1)]);
        assert_eq!(fit(&or, &a), Some(8.0));
        let not = SkillExpr::Not(Box::new(s("deu", 1)));
        assert_eq!(fit(&not, &a), None);
        assert_eq!(fit(&SkillExpr::Any, &a), Some(0.0));
        assert!(!matches(&SkillExpr::Or(vec![]), &a));
    }

    #[test]
    fn required_skills_are_the_conjunctive_terms() {
        let e = SkillExpr::And(vec![
            s("deu", 5),
            SkillExpr::Or(vec![s("sales", 1), s("support", 1)]),
        ]);
        assert_eq!(required_skills(&e), vec!["deu"]);
        assert_eq!(
            ExprDisplay(&e).to_string(),
            "(deu>=5 AND (sales>=1 OR support>=1))"
        );
    }
}
