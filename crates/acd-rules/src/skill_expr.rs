//! The required-skills language: `deu >= 5 AND (sales OR NOT trainee)`.
//!
//! `AND` binds tighter than `OR`, `NOT` tightest; keywords are case-insensitive; a bare skill
//! means level 1 or above; `>` is accepted as "one above". `any` (or an empty string) requires
//! nothing. The parser records where each skill name sits so unknown skills get a caret.

use acd_core::{SkillExpr, SkillLevel};
use std::ops::Range;

/// A skill named in an expression and where (byte range within the expression text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillRef {
    pub name: String,
    pub span: Range<usize>,
}

/// A parse error: message and byte range within the expression text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub message: String,
    pub span: Range<usize>,
    pub help: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Number(u64),
    Ge,
    Gt,
    LParen,
    RParen,
    And,
    Or,
    Not,
    Other(char),
}

fn lex(text: &str) -> Vec<(Tok, Range<usize>)> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let tok = match c {
            c if c.is_whitespace() => continue,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '>' => {
                if let Some((_, '=')) = chars.peek() {
                    chars.next();
                    out.push((Tok::Ge, i..i + 2));
                    continue;
                }
                Tok::Gt
            }
            c if c.is_ascii_digit() => {
                let mut end = i + 1;
                while let Some(&(j, d)) = chars.peek() {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    end = j + 1;
                    chars.next();
                }
                out.push((
                    Tok::Number(text[i..end].parse().unwrap_or(u64::MAX)),
                    i..end,
                ));
                continue;
            }
            c if c.is_alphanumeric() || c == '_' || c == '-' => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if !(d.is_alphanumeric() || d == '_' || d == '-') {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                let word = &text[i..end];
                let tok = match word.to_ascii_uppercase().as_str() {
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "NOT" => Tok::Not,
                    _ => Tok::Ident(word.to_string()),
                };
                out.push((tok, i..end));
                continue;
            }
            other => Tok::Other(other),
        };
        out.push((tok, i..i + c.len_utf8()));
    }
    out
}

/// How many parentheses and NOTs may nest: far beyond what a person writes, far below what
/// would overflow the stack.
const MAX_DEPTH: usize = 32;

struct Parser {
    toks: Vec<(Tok, Range<usize>)>,
    pos: usize,
    end: usize,
    refs: Vec<SkillRef>,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn span(&self) -> Range<usize> {
        self.toks
            .get(self.pos)
            .map(|(_, s)| s.clone())
            .unwrap_or(self.end..self.end)
    }

    fn error(&self, message: &str, help: Option<&str>) -> ExprError {
        ExprError {
            message: message.to_string(),
            span: self.span(),
            help: help.map(str::to_string),
        }
    }

    fn or(&mut self, depth: usize) -> Result<SkillExpr, ExprError> {
        let mut terms = vec![self.and(depth)?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            terms.push(self.and(depth)?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            SkillExpr::Or(terms)
        })
    }

    fn and(&mut self, depth: usize) -> Result<SkillExpr, ExprError> {
        let mut terms = vec![self.unary(depth)?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            terms.push(self.unary(depth)?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            SkillExpr::And(terms)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<SkillExpr, ExprError> {
        // Bounded nesting: the expression comes from a file, and recursion must not overflow.
        if depth > MAX_DEPTH {
            return Err(self.error(
                "expression nested too deeply",
                Some("use at most 32 levels of parentheses and NOT; flatten with AND and OR"),
            ));
        }
        match self.peek().cloned() {
            Some(Tok::Not) => {
                self.pos += 1;
                Ok(SkillExpr::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Tok::LParen) => {
                let open = self.span();
                self.pos += 1;
                let inner = self.or(depth + 1)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(ExprError {
                        message: "this parenthesis is never closed".into(),
                        span: open,
                        help: Some("add `)` where the group ends".into()),
                    });
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Tok::Ident(name)) => {
                let span = self.span();
                self.pos += 1;
                let min_level = match self.peek() {
                    Some(Tok::Ge) | Some(Tok::Gt) => {
                        let strict = self.peek() == Some(&Tok::Gt);
                        self.pos += 1;
                        let level = match self.peek() {
                            Some(Tok::Number(n)) => *n,
                            _ => {
                                return Err(self.error(
                                    "expected a skill level after the comparison",
                                    Some("write for example `deu >= 5`"),
                                ))
                            }
                        };
                        let level_span = self.span();
                        self.pos += 1;
                        let level = if strict {
                            level.saturating_add(1)
                        } else {
                            level
                        };
                        if !(1..=10).contains(&level) {
                            return Err(ExprError {
                                message: format!("skill level {level} is out of range"),
                                span: level_span,
                                help: Some("skill levels go from 1 to 10".into()),
                            });
                        }
                        level as SkillLevel
                    }
                    _ => 1,
                };
                if name.eq_ignore_ascii_case("any") && min_level == 1 {
                    return Ok(SkillExpr::Any);
                }
                self.refs.push(SkillRef {
                    name: name.clone(),
                    span,
                });
                Ok(SkillExpr::Skill { name, min_level })
            }
            Some(Tok::RParen) => Err(self.error("unexpected `)`", None)),
            Some(Tok::And) | Some(Tok::Or) => Err(self.error(
                "expected a skill before this operator",
                Some("write for example `deu AND sales`"),
            )),
            Some(Tok::Number(_)) => Err(self.error(
                "expected a skill name, found a number",
                Some("levels follow a comparison: `deu >= 5`"),
            )),
            Some(Tok::Other(c)) if c == '=' || c == '<' => Err(self.error(
                "only `>=` and `>` compare skill levels",
                Some("a requirement is a minimum level: `deu >= 5`"),
            )),
            Some(_) => Err(self.error("unexpected character", None)),
            None => Err(self.error("the expression ends too early", None)),
        }
    }
}

/// Parses an expression; empty text means [`SkillExpr::Any`].
pub fn parse_skill_expr(text: &str) -> Result<(SkillExpr, Vec<SkillRef>), ExprError> {
    let toks = lex(text);
    if toks.is_empty() {
        return Ok((SkillExpr::Any, Vec::new()));
    }
    let mut parser = Parser {
        toks,
        pos: 0,
        end: text.len(),
        refs: Vec::new(),
    };
    let expr = parser.or(0)?;
    if parser.pos < parser.toks.len() {
        return Err(parser.error(
            "unexpected text after the expression",
            Some("join conditions with AND or OR"),
        ));
    }
    Ok((expr, parser.refs))
}

/// Renders an expression the way supervisors write it (used in explanations and warnings).
pub fn format_skill_expr(expr: &SkillExpr) -> String {
    fn go(expr: &SkillExpr, parent_and: bool) -> String {
        match expr {
            SkillExpr::Any => "any".into(),
            SkillExpr::Skill { name, min_level: 1 } => name.clone(),
            SkillExpr::Skill { name, min_level } => format!("{name} >= {min_level}"),
            SkillExpr::Not(inner) => format!("NOT {}", go(inner, true)),
            SkillExpr::And(terms) => terms
                .iter()
                .map(|t| go(t, true))
                .collect::<Vec<_>>()
                .join(" AND "),
            SkillExpr::Or(terms) => {
                let s = terms
                    .iter()
                    .map(|t| go(t, false))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                if parent_and {
                    format!("({s})")
                } else {
                    s
                }
            }
        }
    }
    go(expr, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skill(name: &str, min_level: u8) -> SkillExpr {
        SkillExpr::Skill {
            name: name.into(),
            min_level,
        }
    }

    #[test]
    fn parses_precedence_and_levels() {
        let (expr, refs) = parse_skill_expr("deu >= 5 AND (sales OR NOT trainee)").unwrap();
        assert_eq!(
            expr,
            SkillExpr::And(vec![
                skill("deu", 5),
                SkillExpr::Or(vec![
                    skill("sales", 1),
                    SkillExpr::Not(Box::new(skill("trainee", 1)))
                ])
            ])
        );
        assert_eq!(refs.len(), 3);
        assert_eq!(refs[2].span, 27..34);
        let (expr, _) = parse_skill_expr("a or b and c").unwrap();
        assert_eq!(
            expr,
            SkillExpr::Or(vec![
                skill("a", 1),
                SkillExpr::And(vec![skill("b", 1), skill("c", 1)])
            ])
        );
        assert_eq!(parse_skill_expr("deu > 4").unwrap().0, skill("deu", 5));
        assert_eq!(parse_skill_expr("  ").unwrap().0, SkillExpr::Any);
        assert_eq!(parse_skill_expr("any").unwrap().0, SkillExpr::Any);
    }

    #[test]
    fn reports_errors_with_position() {
        let err = parse_skill_expr("deu >= 11").unwrap_err();
        assert_eq!(err.span, 7..9);
        let err = parse_skill_expr("(deu AND sales").unwrap_err();
        assert_eq!(err.span, 0..1);
        let err = parse_skill_expr("deu sales").unwrap_err();
        assert_eq!(err.span, 4..9);
        assert!(parse_skill_expr("deu = 5").is_err());
        assert!(parse_skill_expr("AND deu").is_err());
        assert!(parse_skill_expr("deu >=").is_err());
    }

    #[test]
    fn format_round_trips() {
        for text in [
            "deu >= 5 AND (sales OR NOT trainee)",
            "a OR b AND c",
            "NOT x",
        ] {
            let (expr, _) = parse_skill_expr(text).unwrap();
            let again = parse_skill_expr(&format_skill_expr(&expr)).unwrap().0;
            assert_eq!(expr, again);
        }
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        let text = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(parse_skill_expr(&text).unwrap().0, skill("a", 1));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[a-z()<>=! 0-9ANDORT]{0,40}") {
            let _ = parse_skill_expr(&s);
        }

        #[test]
        fn deep_nesting_is_refused_not_overflowed(n in (MAX_DEPTH + 1)..2000) {
            for text in [
                format!("{}a{}", "(".repeat(n), ")".repeat(n)),
                format!("{}a", "NOT ".repeat(n)),
            ] {
                let err = parse_skill_expr(&text).unwrap_err();
                proptest::prop_assert_eq!(&err.message, "expression nested too deeply");
                proptest::prop_assert!(
                    err.help.as_deref().is_some_and(|h| h.contains("at most 32 levels")),
                    "{:?}", err.help
                );
            }
        }
    }
}
