//! Returns a rule error ("refuse") or traps ("panic") for issues whose
//! summary asks for it; otherwise sends the summary alone.
include!("../../glue.rs");

struct G;

impl Guest for G {
    fn outgoing(_ctx: Context, issue: Issue) -> Result<Replica, RuleError> {
        if issue.summary.contains("panic") {
            panic!("cannot cope with {}", issue.key);
        }
        if issue.summary.contains("refuse") {
            eprintln!("refusing {}", issue.key);
            return Err(RuleError { message: format!("{} may not leave this side", issue.key) });
        }
        Ok(replica_with_summary(&issue, issue.summary.clone()))
    }

    fn incoming(
        _ctx: Context,
        _replica: Replica,
        _previous: Option<Replica>,
        _local: Option<Issue>,
    ) -> Result<Update, RuleError> {
        Ok(empty_update())
    }
}

export!(G);
