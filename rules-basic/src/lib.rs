//! tandem's Basic rules, built into the locked, signed component the engine embeds.
//!
//! Owns exactly the semantics of DESIGN.md "Basic mode, exactly" and nothing else:
//! outgoing sends summary, description, issue type, every comment and every
//! attachment; incoming mirrors the issue type by name (falling back to the
//! project's default type, then `Task`), turns every comment public, and applies
//! summary, description and issue type only when they changed since the previous
//! replica (a three-way merge per field, so an unrelated edit on this side is not
//! overwritten). Applying, authorship and visibility of existing comments are the
//! engine's business, not this crate's.
//!
//! The mapping lives in [`basic`] as plain Rust over the WIT types so that the
//! scaffold of `tandem rules new` can start from the same code.

wit_bindgen::generate!({
    path: "../wit",
    world: "rules",
});

pub mod basic;

struct Basic;

impl Guest for Basic {
    fn outgoing(ctx: Context, issue: Issue) -> Result<Replica, RuleError> {
        Ok(basic::outgoing(&ctx, issue))
    }

    fn incoming(
        ctx: Context,
        replica: Replica,
        previous: Option<Replica>,
        local: Option<Issue>,
    ) -> Result<Update, RuleError> {
        Ok(basic::incoming(&ctx, replica, previous.as_ref(), local.as_ref()))
    }
}

export!(Basic);

pub use tandem::rules::types::{Attachment, AttachmentUpdate, Comment, CommentUpdate};
