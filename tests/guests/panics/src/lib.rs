//! Buggy: panics on every issue.
include!("../../glue.rs");

struct G;

impl Guest for G {
    fn outgoing(_ctx: Context, issue: Issue) -> Result<Replica, RuleError> {
        panic!("no rule for issue {}", issue.key)
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
