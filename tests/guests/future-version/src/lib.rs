//! Rules written against a tandem:rules version this engine does not know
//! (2.0.0): the engine must say which version it found and refuse it.
wit_bindgen::generate!({ path: "wit", world: "rules" });

struct G;

impl Guest for G {
    fn outgoing(_ctx: Context, issue: Issue) -> Result<Replica, RuleError> {
        Err(RuleError { message: format!("{} from the future", issue.key) })
    }

    fn incoming(
        _ctx: Context,
        _replica: Replica,
        _previous: Option<Replica>,
        _local: Option<Issue>,
    ) -> Result<Update, RuleError> {
        Err(RuleError { message: "from the future".into() })
    }
}

export!(G);
