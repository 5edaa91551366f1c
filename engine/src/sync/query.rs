//! The trigger language of the `local` tracker:
//! `project = OPS AND type = Bug AND label = hw AND status = Open`.
//! Clauses are joined by AND; values may be quoted; `!=` negates.

use serde::{Deserialize, Serialize};

use crate::tracker::TrackedIssue;

/// A parsed trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    clauses: Vec<Clause>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Clause {
    field: Field,
    negated: bool,
    value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Field {
    Project,
    Type,
    Label,
    Status,
    Priority,
}

impl std::fmt::Display for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, c) in self.clauses.iter().enumerate() {
            if i > 0 {
                f.write_str(" AND ")?;
            }
            let field = match c.field {
                Field::Project => "project",
                Field::Type => "type",
                Field::Label => "label",
                Field::Status => "status",
                Field::Priority => "priority",
            };
            let op = if c.negated { "!=" } else { "=" };
            if c.value.contains(char::is_whitespace) {
                write!(f, "{field} {op} \"{}\"", c.value)?;
            } else {
                write!(f, "{field} {op} {}", c.value)?;
            }
        }
        Ok(())
    }
}

impl Query {
    /// Parses a trigger, naming what is wrong in one line.
    pub fn parse(text: &str) -> Result<Query, String> {
        let mut clauses = Vec::new();
        for part in split_and(text) {
            let part = part.trim();
            let (lhs, negated, rhs) = if let Some((l, r)) = part.split_once("!=") {
                (l, true, r)
            } else if let Some((l, r)) = part.split_once('=') {
                (l, false, r)
            } else {
                return Err(format!("`{part}` is not a clause like `type = Bug`"));
            };
            let field = match lhs.trim().to_ascii_lowercase().as_str() {
                "project" => Field::Project,
                "type" | "issuetype" => Field::Type,
                "label" | "labels" => Field::Label,
                "status" => Field::Status,
                "priority" => Field::Priority,
                other => {
                    return Err(format!(
                        "unknown field `{other}` (use project, type, label, status, priority)"
                    ));
                }
            };
            let value = rhs.trim().trim_matches('"').to_string();
            if value.is_empty() {
                return Err(format!("`{part}` has no value"));
            }
            // Full JQL (OR, IN, functions, ORDER BY) would otherwise be read
            // as one odd value and match nothing, silently.
            let quoted = rhs.trim().starts_with('"') && rhs.trim().ends_with('"');
            let upper = format!(" {} ", value.to_ascii_uppercase());
            if !quoted
                && (value.contains(['=', '(', ')', '<', '>', '~', ','])
                    || [" OR ", " IN ", " ORDER ", " NOT "]
                        .iter()
                        .any(|w| upper.contains(w)))
            {
                return Err(format!(
                    "`{}` is more than a trigger takes: clauses `field = value` joined by AND (no OR, IN, functions or ORDER BY); quote a value with spaces",
                    part.trim()
                ));
            }
            clauses.push(Clause {
                field,
                negated,
                value,
            });
        }
        if clauses.is_empty() {
            return Err("the trigger is empty".into());
        }
        Ok(Query { clauses })
    }

    /// Whether an issue matches every clause.
    pub fn matches(&self, t: &TrackedIssue) -> bool {
        self.clauses.iter().all(|c| {
            let i = &t.issue;
            let hit = match c.field {
                Field::Project => t.project.eq_ignore_ascii_case(&c.value),
                Field::Type => i.issue_type.eq_ignore_ascii_case(&c.value),
                Field::Label => i.labels.iter().any(|l| l == &c.value),
                Field::Status => i.status.eq_ignore_ascii_case(&c.value),
                Field::Priority => i.priority.eq_ignore_ascii_case(&c.value),
            };
            hit != c.negated
        })
    }
}

fn split_and(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(at) = find_and(rest) {
        parts.push(&rest[..at]);
        rest = &rest[at + 5..];
    }
    parts.push(rest);
    parts
}

fn find_and(text: &str) -> Option<usize> {
    let upper = text.to_ascii_uppercase();
    upper.find(" AND ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Issue;

    #[test]
    fn full_jql_is_refused_not_misread() {
        for jql in [
            "project = OPS OR project = SUP",
            "project in (OPS, SUP)",
            "updated >= -5m",
            "project = OPS ORDER BY updated",
        ] {
            assert!(Query::parse(jql).is_err(), "{jql} was taken");
        }
        assert!(Query::parse("project = OPS AND status = \"In Progress\"").is_ok());
    }

    fn issue(project: &str, t: &str, labels: &[&str]) -> TrackedIssue {
        TrackedIssue {
            id: "1".into(),
            project: project.into(),
            updated: String::new(),
            issue: Issue {
                issue_type: t.into(),
                labels: labels.iter().map(|l| l.to_string()).collect(),
                ..Issue::default()
            },
        }
    }

    #[test]
    fn clauses_are_anded_and_can_be_negated() {
        let q = Query::parse("project = OPS and type = Bug AND label = \"hw\"").unwrap();
        assert!(q.matches(&issue("OPS", "bug", &["hw"])));
        assert!(!q.matches(&issue("OPS", "Bug", &[])));
        assert!(!q.matches(&issue("SUP", "Bug", &["hw"])));
        let q = Query::parse("project = OPS AND type != Epic").unwrap();
        assert!(q.matches(&issue("OPS", "Bug", &[])));
        assert!(!q.matches(&issue("OPS", "Epic", &[])));
    }

    #[test]
    fn a_bad_trigger_says_what_is_wrong() {
        assert!(
            Query::parse("colour = red")
                .unwrap_err()
                .contains("unknown field `colour`")
        );
        assert!(
            Query::parse("project OPS")
                .unwrap_err()
                .contains("not a clause")
        );
        assert!(Query::parse("").is_err());
    }
}
