//! What can go wrong with a rules component, named after the component and the
//! export so that an admin reading one line knows what to fix.

use std::time::Duration;

/// Errors of loading or calling a rules component.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The component was refused before it could run: unreadable, not a
    /// component, badly signed, wrong contract or a forbidden import.
    #[error("component `{component}`: {reason}")]
    Rejected { component: String, reason: String },

    /// The rule itself returned an error.
    #[error("component `{component}`: export `{export}` returned a rule error: {message}")]
    Rule {
        component: String,
        export: &'static str,
        message: String,
    },

    /// The guest trapped (a panic, an `unreachable`, an out-of-bounds access).
    #[error("component `{component}`: export `{export}` trapped: {detail}")]
    Trap {
        component: String,
        export: &'static str,
        detail: String,
    },

    /// The call ran past its epoch deadline.
    #[error("component `{component}`: export `{export}` ran past its {} ms deadline", .deadline.as_millis())]
    Deadline {
        component: String,
        export: &'static str,
        deadline: Duration,
    },

    /// The guest tried to grow its memory past the cap.
    #[error("component `{component}`: export `{export}` hit its memory cap of {} MiB", .cap / (1024 * 1024))]
    MemoryCap {
        component: String,
        export: &'static str,
        cap: usize,
    },

    /// The host could not be set up (not the component's fault).
    #[error("rules host: {0}")]
    Host(String),
}

impl RulesError {
    /// True when the rules failed at run time (exit code 3), as opposed to being
    /// refused or the host failing (exit code 1).
    pub fn is_rule_failure(&self) -> bool {
        matches!(
            self,
            RulesError::Rule { .. }
                | RulesError::Trap { .. }
                | RulesError::Deadline { .. }
                | RulesError::MemoryCap { .. }
        )
    }

    /// A short machine-readable name, used as `error.kind` in `--json` output.
    pub fn kind(&self) -> &'static str {
        match self {
            RulesError::Rejected { .. } => "rejected",
            RulesError::Rule { .. } => "rule_error",
            RulesError::Trap { .. } => "trap",
            RulesError::Deadline { .. } => "deadline",
            RulesError::MemoryCap { .. } => "memory_cap",
            RulesError::Host(_) => "host",
        }
    }

    pub(crate) fn rejected(component: &str, reason: impl Into<String>) -> Self {
        RulesError::Rejected {
            component: component.to_string(),
            reason: reason.into(),
        }
    }
}
