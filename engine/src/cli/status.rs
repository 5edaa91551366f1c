//! `tandem status`: the node, its connections, queue depths and errors at a
//! glance.

use super::CliError;
use super::connection::listed;
use crate::admin::Reply;
use crate::node::Node;

pub fn handle(node: &Node) -> Result<Reply, CliError> {
    let sync = node.sync()?;
    let store = |e: crate::sync::SyncError| CliError::failed("store", e.to_string());
    let connections: Vec<_> = sync
        .connections()
        .map_err(store)?
        .iter()
        .map(|c| listed(node, c))
        .collect::<Result<_, _>>()?;
    let errors = sync.errors().map_err(store)?.len();
    let running = if node.serving {
        "running"
    } else {
        "not running (start it with `tandem serve`)"
    };
    let value = serde_json::json!({
        "node": node.config.name,
        "tracker": node.config.tracker,
        "running": node.serving,
        "public_url": node.config.public_url,
        "connections": connections,
        "errors": errors,
    });
    let mut text = format!(
        "node `{}` ({} tracker) is {running}\npublic URL: {}\nerrors: {errors}",
        node.config.name,
        node.config.tracker,
        node.config
            .public_url
            .as_deref()
            .unwrap_or("none (private: it calls out only)")
    );
    for c in &connections {
        let v = serde_json::to_value(c).unwrap_or_default();
        text.push_str(&format!(
            "\nconnection {}: {} with {}, outbox {}, inbox {}, errors {}, last exchange {}",
            v["name"].as_str().unwrap_or(""),
            v["state"].as_str().unwrap_or(""),
            v["peer"].as_str().unwrap_or(""),
            v["outbox"],
            v["inbox"],
            v["errors"],
            v["last_exchange"].as_str().unwrap_or("never"),
        ));
    }
    Ok(Reply::new(value, text))
}
