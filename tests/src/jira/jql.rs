//! The JQL the test server understands: enough for the connector's queries
//! and a trigger's. `field op value` clauses joined by AND (`=`, `!=`,
//! `>=`, `<=`, `>`, `<`, `in (...)`) over project, issuetype, status,
//! priority, labels, key, created, updated; dates absolute
//! (`"2026-12-04 10:15"`, Jira's minute granularity, the user's zone is
//! UTC here) or relative (`"-5m"`, `-2h`, `-1d`); then `ORDER BY` fields.
//! Anything else is refused with a 400, as Jira does.

use super::state::{JiraIssue, State};

#[derive(Debug)]
pub struct Query {
    clauses: Vec<Clause>,
    order: Vec<(String, bool)>,
}

#[derive(Debug)]
struct Clause {
    field: String,
    op: String,
    values: Vec<String>,
}

fn tokens(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' || c == '\'' {
            chars.next();
            let mut word = String::from("\u{0}");
            loop {
                match chars.next() {
                    None => return Err("a quoted value is not closed".into()),
                    Some('\\') => word.extend(chars.next()),
                    Some(q) if q == c => break,
                    Some(ch) => word.push(ch),
                }
            }
            out.push(word);
        } else if "(),".contains(c) {
            out.push(c.to_string());
            chars.next();
        } else if "=!<>".contains(c) {
            let mut op = String::new();
            while let Some(&o) = chars.peek().filter(|o| "=!<>".contains(**o)) {
                op.push(o);
                chars.next();
            }
            out.push(op);
        } else {
            let mut word = String::new();
            while let Some(&w) = chars
                .peek()
                .filter(|w| !w.is_whitespace() && !"(),=!<>\"'".contains(**w))
            {
                word.push(w);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

/// A token's value (quoted ones carry a leading NUL so `"AND"` is a value).
fn value(t: &str) -> String {
    t.trim_start_matches('\u{0}').to_string()
}

impl Query {
    pub fn parse(jql: &str) -> Result<Query, String> {
        let t = tokens(jql)?;
        let mut i = 0;
        let mut clauses = Vec::new();
        let is = |t: &str, w: &str| t.eq_ignore_ascii_case(w);
        while i < t.len() && !is(&t[i], "order") {
            let field = value(&t[i]).to_ascii_lowercase();
            let op = t
                .get(i + 1)
                .ok_or_else(|| {
                    format!("Error in the JQL Query: expecting an operator after '{field}'")
                })?
                .to_ascii_lowercase();
            i += 2;
            let mut values = Vec::new();
            if op == "in" {
                if t.get(i).map(String::as_str) != Some("(") {
                    return Err("Error in the JQL Query: expecting '(' after IN".into());
                }
                i += 1;
                while i < t.len() && t[i] != ")" {
                    if t[i] != "," {
                        values.push(value(&t[i]));
                    }
                    i += 1;
                }
                i += 1;
            } else {
                if !["=", "!=", ">=", "<=", ">", "<"].contains(&op.as_str()) {
                    return Err(format!(
                        "Error in the JQL Query: the operator '{op}' is not supported"
                    ));
                }
                values.push(value(t.get(i).ok_or_else(|| {
                    format!("Error in the JQL Query: expecting a value after '{op}'")
                })?));
                i += 1;
            }
            if ![
                "project",
                "issuetype",
                "type",
                "status",
                "priority",
                "labels",
                "key",
                "created",
                "updated",
            ]
            .contains(&field.as_str())
            {
                return Err(format!(
                    "Field '{field}' does not exist or you do not have permission to view it."
                ));
            }
            clauses.push(Clause { field, op, values });
            if i < t.len() && is(&t[i], "and") {
                i += 1;
                if i >= t.len() || is(&t[i], "order") {
                    return Err("Error in the JQL Query: expecting a clause after AND".into());
                }
            } else if i < t.len() && !is(&t[i], "order") {
                return Err(format!(
                    "Error in the JQL Query: expecting AND or ORDER BY but got '{}'",
                    value(&t[i])
                ));
            }
        }
        let mut order = Vec::new();
        if i < t.len() {
            if !t.get(i + 1).is_some_and(|b| is(b, "by")) {
                return Err("Error in the JQL Query: expecting BY after ORDER".into());
            }
            i += 2;
            while i < t.len() {
                let field = value(&t[i]).to_ascii_lowercase();
                i += 1;
                let mut asc = true;
                if i < t.len() && (is(&t[i], "asc") || is(&t[i], "desc")) {
                    asc = is(&t[i], "asc");
                    i += 1;
                }
                order.push((field, asc));
                if i < t.len() && t[i] == "," {
                    i += 1;
                }
            }
        }
        Ok(Query { clauses, order })
    }

    pub fn matches(&self, state: &State, issue: &JiraIssue, now: i64) -> Result<bool, String> {
        for c in &self.clauses {
            let ok = match c.field.as_str() {
                "created" | "updated" => {
                    let at = if c.field == "created" {
                        issue.created
                    } else {
                        issue.updated
                    };
                    let bound = date(&c.values[0], now)?;
                    match c.op.as_str() {
                        ">=" => at >= bound,
                        ">" => at >= bound + 60_000,
                        "<=" => at < bound + 60_000,
                        "<" => at < bound,
                        "=" => at >= bound && at < bound + 60_000,
                        _ => {
                            return Err(format!(
                                "the operator '{}' is not supported for dates",
                                c.op
                            ));
                        }
                    }
                }
                field => {
                    let have: Vec<String> = match field {
                        "project" => vec![issue.project.clone()],
                        "issuetype" | "type" => {
                            let p = state.project(&issue.project).expect("project");
                            p.types
                                .iter()
                                .filter(|(id, _, _)| *id == issue.type_id)
                                .map(|(_, n, _)| n.clone())
                                .collect()
                        }
                        "status" => vec![issue.status.clone()],
                        "priority" => issue.priority.iter().cloned().collect(),
                        "labels" => issue.labels.clone(),
                        _ => vec![issue.key.clone(), issue.id.to_string()],
                    };
                    let hit = c
                        .values
                        .iter()
                        .any(|v| have.iter().any(|h| h.eq_ignore_ascii_case(v)));
                    match c.op.as_str() {
                        "=" | "in" => hit,
                        "!=" => !hit,
                        op => {
                            return Err(format!(
                                "the operator '{op}' is not supported for {field}"
                            ));
                        }
                    }
                }
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Sorts as `ORDER BY` says (Jira's default: newest key first).
    pub fn sort(&self, issues: &mut [&JiraIssue]) {
        issues.sort_by(|a, b| {
            for (field, asc) in self
                .order
                .iter()
                .chain(std::iter::once(&("id".to_string(), true)))
            {
                let ord = match field.as_str() {
                    "updated" => a.updated.cmp(&b.updated),
                    "created" => a.created.cmp(&b.created),
                    _ => a.id.cmp(&b.id),
                };
                let ord = if *asc { ord } else { ord.reverse() };
                if ord.is_ne() {
                    return ord;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
}

/// A JQL date as the start of its minute, Unix milliseconds.
fn date(v: &str, now: i64) -> Result<i64, String> {
    let v = v.trim();
    let minute = |ms: i64| ms - ms.rem_euclid(60_000);
    if let Some(rel) = v.strip_prefix('-') {
        let (n, unit) = rel.split_at(rel.len().saturating_sub(1));
        let n: i64 = n
            .parse()
            .map_err(|_| format!("Date value '{v}' is invalid"))?;
        let ms = match unit {
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return Err(format!("Date value '{v}' is invalid")),
        };
        return Ok(minute(now - n * ms));
    }
    let text = if v.len() == 10 {
        format!("{v} 00:00")
    } else {
        v.replace('/', "-")
    };
    let t = humantime::parse_rfc3339_weak(&format!("{}:00Z", text.replace(' ', "T")))
        .map_err(|_| format!("Date value '{v}' for field is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."))?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_have_minute_granularity() {
        let now = 1_700_000_123_456;
        assert_eq!(date("-5m", now).unwrap(), (now - 300_000) / 60_000 * 60_000);
        assert_eq!(date("2023-11-14 22:15", now).unwrap(), 1_700_000_100_000);
        assert!(date("yesterday", now).is_err());
    }

    #[test]
    fn bad_jql_is_refused() {
        assert!(Query::parse("project = OPS AND").is_err());
        assert!(Query::parse("projct = OPS").is_err());
        assert!(Query::parse("project = OPS ORDER BY updated ASC").is_ok());
    }
}
