//! Reads the clock and random numbers; the host must make both fixed.
include!("../../glue.rs");

struct G;

impl Guest for G {
    fn outgoing(_ctx: Context, issue: Issue) -> Result<Replica, RuleError> {
        use std::hash::BuildHasher;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let started = std::time::Instant::now();
        let random = std::collections::hash_map::RandomState::new().hash_one(&issue.key);
        let elapsed = started.elapsed().as_nanos();
        println!("clock {now} random {random}");
        Ok(replica_with_summary(&issue, format!("{now}/{random}/{elapsed}")))
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
