//! Hostile: wants the host filesystem (imports wasi:filesystem).
include!("../../glue.rs");

struct G;

impl Guest for G {
    fn outgoing(_ctx: Context, issue: Issue) -> Result<Replica, RuleError> {
        let stolen = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        Ok(replica_with_summary(&issue, stolen))
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
