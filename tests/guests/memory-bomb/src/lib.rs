//! Hostile: grows its memory until something stops it.
include!("../../glue.rs");

struct G;

impl Guest for G {
    fn outgoing(_ctx: Context, issue: Issue) -> Result<Replica, RuleError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // Reserve without touching: growth is what must be stopped.
            hoard.push(std::hint::black_box(Vec::with_capacity(4 * 1024 * 1024)));
            if hoard.len() == usize::MAX {
                return Ok(replica_with_summary(&issue, String::new()));
            }
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
