//! Each issue's link to its twin, on trackers set to keep one (Jira's remote
//! links). Best effort by design: a link is a convenience for the people
//! reading the issue, so a failure to make one is logged and never holds up
//! the sync; the issue's next sync tries again, and a twin whose key
//! changed (the issue moved) gets its link updated.

use super::state::{self, key};
use super::{IssueTwin, SyncError, SyncNode};
use crate::tracker::{Tracker, TwinLink};

impl<T: Tracker> SyncNode<T> {
    /// Makes or updates the link from `local` to `twin`, its twin on
    /// `connection`, when the twin's key is not the one the link shows.
    pub(super) async fn link_twin(
        &self,
        connection: &str,
        local: &str,
        twin: Option<IssueTwin>,
    ) -> Result<(), SyncError> {
        let Some(twin) = twin else {
            return Ok(());
        };
        if twin.remote_key.is_empty() || twin.linked == twin.remote_key || twin.remote_removed {
            return Ok(());
        }
        let conn = self.connection(connection)?;
        let link = TwinLink {
            connection: conn.name.clone(),
            peer: conn.peer.clone().unwrap_or_default(),
            key: twin.remote_key.clone(),
            global_id: format!("tandem:{}:{}", conn.id, twin.remote),
        };
        match self.tracker.link_twin(local, &link).await {
            Ok(true) => self.write_lazy(|tx| {
                let twin_key = key(connection, local);
                if let Some(mut now) = state::get::<IssueTwin>(tx, state::ISSUE_TWINS, &twin_key)? {
                    now.linked = link.key.clone();
                    state::put(tx, state::ISSUE_TWINS, &twin_key, &now)?;
                }
                Ok(())
            }),
            Ok(false) => Ok(()),
            Err(e) => {
                tracing::warn!(connection = %conn.name, issue = local, "could not link the issue to its twin {}: {e}", link.key);
                Ok(())
            }
        }
    }
}
