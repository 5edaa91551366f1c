//! Hostile: never returns from outgoing.
include!("../../glue.rs");

struct G;

impl Guest for G {
    fn outgoing(_ctx: Context, issue: Issue) -> Result<Replica, RuleError> {
        let mut n: u64 = issue.summary.len() as u64;
        loop {
            n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
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
