//! A [`Transport`] to a node in the same process: for tests, benchmarks and
//! trying two nodes on one machine without the network.

use std::sync::Arc;

use super::{Envelope, SyncNode, Transport, TransportError};
use crate::tracker::Tracker;

/// Delivers straight into another node's inbox.
pub struct InProcess<T> {
    peer: Arc<SyncNode<T>>,
}

impl<T> InProcess<T> {
    pub fn new(peer: Arc<SyncNode<T>>) -> Self {
        InProcess { peer }
    }
}

impl<T: Tracker> Transport for InProcess<T> {
    async fn deliver(&self, envelopes: &[Envelope]) -> Result<u64, TransportError> {
        self.peer
            .receive(envelopes)
            .map_err(|e| TransportError::Refused(e.to_string()))
    }

    async fn fetch_attachment(
        &self,
        connection: &str,
        issue: &str,
        attachment: &str,
        _sha256: &str,
    ) -> Result<Vec<u8>, TransportError> {
        self.peer
            .serve_attachment(connection, issue, attachment)
            .await
            .map_err(|e| TransportError::Refused(e.to_string()))
    }
}
