//! One-way rules: this side only sends. Outgoing is Basic's; incoming returns
//! an empty update, which applies nothing: the other side's issues are not
//! created here, its edits and comments do not land, and nothing is an error.

wit_bindgen::generate!({ path: "../../wit", world: "rules" });

// Only Basic's outgoing half is used here.
#[allow(dead_code)]
#[path = "../../../rules-basic/src/basic.rs"]
mod basic;

// `basic` names these at the crate root.
use tandem::rules::types::{AttachmentUpdate, CommentUpdate};

struct OneWay;

impl Guest for OneWay {
    fn outgoing(ctx: Context, issue: Issue) -> Result<Replica, RuleError> {
        Ok(basic::outgoing(&ctx, issue))
    }

    fn incoming(
        _ctx: Context,
        _replica: Replica,
        _previous: Option<Replica>,
        _local: Option<Issue>,
    ) -> Result<Update, RuleError> {
        Ok(Update {
            summary: None,
            description: None,
            issue_type: None,
            status: None,
            priority: None,
            labels: None,
            fields: Vec::new(),
            comments: Vec::new(),
            attachments: Vec::new(),
        })
    }
}

export!(OneWay);
