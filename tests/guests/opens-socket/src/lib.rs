//! Hostile: wants the network (imports wasi:sockets).
include!("../../glue.rs");

struct G;

impl Guest for G {
    fn outgoing(_ctx: Context, issue: Issue) -> Result<Replica, RuleError> {
        let ok = std::net::TcpStream::connect("127.0.0.1:9").is_ok();
        Ok(replica_with_summary(&issue, ok.to_string()))
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
