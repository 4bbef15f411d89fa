//! The parts of the Monitoring filter and Logging query languages the fake understands: a
//! conjunction (`AND`) of comparisons `key OP "value"` (`=`, `!=`, `:`, `<`, `<=`, `>`, `>=`),
//! `key = one_of("a", "b")`, and parenthesized disjunctions (`OR`) of comparisons. Anything
//! else is refused, as Google refuses a filter it cannot parse.

#[derive(Debug, Clone)]
pub(super) enum Cond {
    Cmp {
        key: String,
        op: String,
        values: Vec<String>,
    },
    Any(Vec<Cond>),
}

/// Parses a conjunction of conditions.
pub(super) fn parse(text: &str) -> Result<Vec<Cond>, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let mut out = vec![p.cond()?];
    loop {
        p.ws();
        if p.i == p.s.len() {
            return Ok(out);
        }
        p.word("AND")?;
        out.push(p.cond()?);
    }
}

/// Whether every condition holds, reading keys through `get` (`None`: the field is absent)
/// and comparing with `cmp` (`Some(ordering)` for ordered keys such as timestamps).
pub(super) fn holds(conds: &[Cond], get: &dyn Fn(&str) -> Option<String>) -> bool {
    conds.iter().all(|c| one(c, get))
}

fn one(c: &Cond, get: &dyn Fn(&str) -> Option<String>) -> bool {
    match c {
        Cond::Any(list) => list.iter().any(|c| one(c, get)),
        Cond::Cmp { key, op, values } => {
            let Some(actual) = get(key) else {
                return op == "!=";
            };
            let ordered = |v: &String| {
                let a = crate::timestamp::parse_ms(&actual);
                let b = crate::timestamp::parse_ms(v);
                match (a, b) {
                    (Some(a), Some(b)) => a.cmp(&b),
                    _ => actual.as_str().cmp(v.as_str()),
                }
            };
            values.iter().any(|v| match op.as_str() {
                "=" => actual == *v,
                "!=" => actual != *v,
                ":" => actual.to_lowercase().contains(&v.to_lowercase()),
                "<" => ordered(v).is_lt(),
                "<=" => ordered(v).is_le(),
                ">" => ordered(v).is_gt(),
                ">=" => ordered(v).is_ge(),
                _ => false,
            })
        }
    }
}

/// Every key the conditions name.
pub(super) fn keys(conds: &[Cond]) -> Vec<String> {
    let mut out = Vec::new();
    for c in conds {
        match c {
            Cond::Cmp { key, .. } => out.push(key.clone()),
            Cond::Any(list) => out.extend(keys(list)),
        }
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn word(&mut self, w: &str) -> Result<(), String> {
        self.ws();
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(())
        } else {
            Err(format!("expected {w} at offset {}", self.i))
        }
    }

    fn cond(&mut self) -> Result<Cond, String> {
        self.ws();
        if self.s.get(self.i) == Some(&b'(') {
            self.i += 1;
            let mut list = vec![self.cmp()?];
            loop {
                self.ws();
                if self.s.get(self.i) == Some(&b')') {
                    self.i += 1;
                    return Ok(Cond::Any(list));
                }
                self.word("OR")?;
                list.push(self.cmp()?);
            }
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Cond, String> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric() || b"._".contains(&self.s[self.i])) {
            self.i += 1;
        }
        let key = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        if key.is_empty() {
            return Err(format!("expected a field name at offset {start}"));
        }
        self.ws();
        let op = ["!=", ">=", "<=", "=", ":", "<", ">"]
            .into_iter()
            .find(|op| self.s[self.i..].starts_with(op.as_bytes()))
            .ok_or_else(|| format!("expected a comparison after {key}"))?;
        self.i += op.len();
        self.ws();
        let values = if self.s[self.i..].starts_with(b"one_of(") {
            self.i += "one_of(".len();
            let mut vs = vec![self.string()?];
            loop {
                self.ws();
                match self.s.get(self.i) {
                    Some(b',') => {
                        self.i += 1;
                        vs.push(self.string()?);
                    }
                    Some(b')') => {
                        self.i += 1;
                        break vs;
                    }
                    _ => return Err("unterminated one_of(".into()),
                }
            }
        } else {
            vec![self.string()?]
        };
        Ok(Cond::Cmp {
            key,
            op: op.to_string(),
            values,
        })
    }

    fn string(&mut self) -> Result<String, String> {
        self.ws();
        if self.s.get(self.i) != Some(&b'"') {
            return Err(format!("expected a quoted string at offset {}", self.i));
        }
        self.i += 1;
        let mut out = Vec::new();
        while let Some(&c) = self.s.get(self.i) {
            self.i += 1;
            match c {
                b'\\' => {
                    out.push(*self.s.get(self.i).ok_or("unterminated string")?);
                    self.i += 1;
                }
                b'"' => return Ok(String::from_utf8_lossy(&out).into_owned()),
                c => out.push(c),
            }
        }
        Err("unterminated string".into())
    }
}
