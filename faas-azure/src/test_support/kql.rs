//! The KQL subset the fake Application Insights evaluates (see `app_insights.rs`): lexing,
//! parsing into a table and its operators, and evaluating predicates and orderings over rows.

use std::cmp::Ordering;

use serde_json::Value;

use super::app_insights::{Row, schema};
use crate::metrics::parse_iso8601;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Time(u64),
    Sym(String),
}

pub(super) fn lex(q: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch.is_ascii_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            if word == "datetime" && c.get(i) == Some(&'(') {
                let end = c[i..].iter().position(|x| *x == ')').ok_or("unclosed datetime(")? + i;
                let text: String = c[i + 1..end].iter().collect();
                out.push(Tok::Time(
                    parse_iso8601(&text).ok_or(format!("bad datetime literal {text:?}"))?,
                ));
                i = end + 1;
            } else if word == "in" && c.get(i) == Some(&'~') {
                out.push(Tok::Sym("in~".into()));
                i += 1;
            } else {
                out.push(Tok::Ident(word));
            }
        } else if ch.is_ascii_digit() {
            let start = i;
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                i += 1;
            }
            let n: String = c[start..i].iter().collect();
            out.push(Tok::Num(n.parse().map_err(|_| format!("bad number {n}"))?));
        } else if ch == '\'' || ch == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match c.get(i) {
                    None => return Err("unterminated string literal".into()),
                    Some('\\') => {
                        s.push(match c.get(i + 1) {
                            Some('n') => '\n',
                            Some('r') => '\r',
                            Some('t') => '\t',
                            Some(x) => *x,
                            None => return Err("unterminated string literal".into()),
                        });
                        i += 2;
                    }
                    Some(x) if *x == ch => {
                        i += 1;
                        break;
                    }
                    Some(x) => {
                        s.push(*x);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else {
            let two: String = c[i..(i + 2).min(c.len())].iter().collect();
            if [">=", "<=", "==", "=~", "!="].contains(&two.as_str()) {
                out.push(Tok::Sym(two));
                i += 2;
            } else if "|,()<>=".contains(ch) {
                out.push(Tok::Sym(ch.to_string()));
                i += 1;
            } else {
                return Err(format!("unexpected character {ch:?}"));
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
pub(super) enum Pred {
    Cmp(String, String, Tok),
    In(String, Vec<Tok>),
    /// The column, the text, whether case counts (`contains_cs`).
    Contains(String, String, bool),
}

#[derive(Debug, Clone)]
pub(super) enum Op {
    Where(Vec<Pred>),
    Project(Vec<String>),
    Order(Vec<(String, bool)>),
    Take(usize),
    /// `extend {name} = ingestion_time()`.
    Extend(String),
}

/// A parse error is a `SyntaxError`, an unknown name a `SemanticError`.
pub(super) enum Refusal {
    Syntax(String),
    Semantic(String),
}

/// `c` if it is one of `columns`.
pub(super) fn known(columns: &[(String, &'static str)], c: &str) -> Result<String, Refusal> {
    if columns.iter().any(|(n, _)| n == c) {
        Ok(c.to_string())
    } else {
        Err(Refusal::Semantic(format!(
            "Failed to resolve scalar expression named '{c}'"
        )))
    }
}

/// The table, the operators, and the columns (with the extended ones) and their types.
pub(super) type Parsed = (String, Vec<Op>, Vec<(String, &'static str)>);

pub(super) fn parse(q: &str) -> Result<Parsed, Refusal> {
    let toks = lex(q).map_err(Refusal::Syntax)?;
    let mut parts = toks.split(|t| *t == Tok::Sym("|".into()));
    let table = match parts.next() {
        Some([Tok::Ident(t)]) => t.clone(),
        _ => return Err(Refusal::Syntax("a query starts with a table name".into())),
    };
    let mut columns: Vec<(String, &'static str)> = schema(&table)
        .ok_or_else(|| Refusal::Semantic(format!("Failed to resolve table or column expression named '{table}'")))?
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect();
    let mut ops = Vec::new();
    for part in parts {
        let syntax = || Refusal::Syntax(format!("Query could not be parsed at {part:?}"));
        let op = match part {
            [Tok::Ident(w), rest @ ..] if w == "where" => {
                let mut preds = Vec::new();
                for clause in rest.split(|t| *t == Tok::Ident("and".into())) {
                    preds.push(match clause {
                        [
                            Tok::Ident(c),
                            Tok::Sym(op),
                            lit @ (Tok::Str(_) | Tok::Num(_) | Tok::Time(_)),
                        ] if op != "in~" => Pred::Cmp(known(&columns, c)?, op.clone(), lit.clone()),
                        [Tok::Ident(c), Tok::Ident(k), Tok::Str(s)] if k == "contains" || k == "contains_cs" => {
                            Pred::Contains(known(&columns, c)?, s.clone(), k == "contains_cs")
                        }
                        [Tok::Ident(c), Tok::Sym(k), Tok::Sym(open), list @ .., Tok::Sym(close)]
                            if k == "in~" && open == "(" && close == ")" =>
                        {
                            let values: Vec<Tok> =
                                list.iter().filter(|t| **t != Tok::Sym(",".into())).cloned().collect();
                            if values.iter().any(|v| !matches!(v, Tok::Str(_))) {
                                return Err(syntax());
                            }
                            Pred::In(known(&columns, c)?, values)
                        }
                        _ => return Err(syntax()),
                    });
                }
                Op::Where(preds)
            }
            [Tok::Ident(w), rest @ ..] if w == "project" => {
                let mut cols = Vec::new();
                for item in rest.split(|t| *t == Tok::Sym(",".into())) {
                    match item {
                        [Tok::Ident(c)] => cols.push(known(&columns, c)?),
                        _ => return Err(syntax()),
                    }
                }
                Op::Project(cols)
            }
            [Tok::Ident(w), Tok::Ident(by), rest @ ..] if (w == "order" || w == "sort") && by == "by" => {
                let mut keys = Vec::new();
                for item in rest.split(|t| *t == Tok::Sym(",".into())) {
                    match item {
                        [Tok::Ident(c)] => keys.push((known(&columns, c)?, false)),
                        [Tok::Ident(c), Tok::Ident(d)] if d == "asc" || d == "desc" => {
                            keys.push((known(&columns, c)?, d == "asc"))
                        }
                        _ => return Err(syntax()),
                    }
                }
                Op::Order(keys)
            }
            [Tok::Ident(w), Tok::Num(n)] if (w == "take" || w == "limit") && n.fract() == 0.0 => Op::Take(*n as usize),
            [
                Tok::Ident(w),
                Tok::Ident(name),
                Tok::Sym(eq),
                Tok::Ident(f),
                Tok::Sym(open),
                Tok::Sym(close),
            ] if w == "extend" && eq == "=" && f == "ingestion_time" && open == "(" && close == ")" => {
                columns.push((name.clone(), "datetime"));
                Op::Extend(name.clone())
            }
            _ => return Err(syntax()),
        };
        ops.push(op);
    }
    Ok((table, ops, columns))
}

/// A comparable view of a cell: times as ms, numbers, text.
pub(super) fn cmp_cell(v: Option<&Value>, lit: &Tok) -> Option<Ordering> {
    match (v?, lit) {
        (Value::String(s), Tok::Time(ms)) => parse_iso8601(s).map(|t| t.cmp(ms)),
        (Value::Number(n), Tok::Num(x)) => n.as_f64()?.partial_cmp(x),
        (Value::String(s), Tok::Str(x)) => Some(s.as_str().cmp(x.as_str())),
        (Value::Bool(b), Tok::Ident(x)) => Some(b.to_string().cmp(x)),
        _ => None,
    }
}

pub(super) fn holds(row: &Row, p: &Pred) -> bool {
    match p {
        Pred::Cmp(c, op, lit) => {
            let v = row.get(c);
            if op == "=~" {
                return matches!((v, lit), (Some(Value::String(s)), Tok::Str(x)) if s.eq_ignore_ascii_case(x));
            }
            let Some(o) = cmp_cell(v, lit) else { return false };
            match op.as_str() {
                "==" => o == Ordering::Equal,
                "!=" => o != Ordering::Equal,
                "<" => o == Ordering::Less,
                "<=" => o != Ordering::Greater,
                ">" => o == Ordering::Greater,
                _ => o != Ordering::Less,
            }
        }
        Pred::In(c, values) => row.get(c).and_then(Value::as_str).is_some_and(|s| {
            values
                .iter()
                .any(|v| matches!(v, Tok::Str(x) if x.eq_ignore_ascii_case(s)))
        }),
        Pred::Contains(c, text, case) => row.get(c).and_then(Value::as_str).is_some_and(|s| {
            if *case {
                s.contains(text.as_str())
            } else {
                s.to_lowercase().contains(&text.to_lowercase())
            }
        }),
    }
}

pub(super) fn order(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::String(x)), Some(Value::String(y))) => match (parse_iso8601(x), parse_iso8601(y)) {
            (Some(p), Some(q)) => p.cmp(&q).then(x.cmp(y)),
            _ => x.cmp(y),
        },
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal)
        }
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}
