//! What the remote connectors share about HTTP: one way to build a client
//! that never follows redirects (a redirect could carry a token elsewhere),
//! a rule that credentials go only to URLs under the configured base, and
//! reading an answer with a size cap, percent-encoding what goes into a URL.
//! Owns no tracker's semantics.

use std::time::Duration;

use super::TrackerError;

/// A client for one tracker: bounded connect and request times, no redirects.
pub(super) fn client(timeout: Duration) -> Result<reqwest::Client, TrackerError> {
    crate::transport::tls::install_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| TrackerError::Unavailable(format!("cannot make an HTTP client: {e}")))
}

/// `path` as a URL under `base`. A full URL the tracker handed out (an
/// attachment's download link) passes only when it is under `base` too, so
/// credentials never go to another host.
pub(super) fn under_base(
    base: &str,
    path: &str,
    relative_prefix: &str,
    tracker: &str,
) -> Result<String, TrackerError> {
    if path.starts_with("http://") || path.starts_with("https://") {
        if path.starts_with(&format!("{base}/")) {
            return Ok(path.into());
        }
        return Err(TrackerError::Rejected(format!(
            "{tracker} pointed at {path}, which is not under {base}; not sending credentials there"
        )));
    }
    Ok(format!("{base}{relative_prefix}{path}"))
}

/// The body of an answer, refused past `cap` bytes.
pub(super) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
    what: &str,
) -> Result<Vec<u8>, TrackerError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| TrackerError::Unavailable(format!("{what}: {e}")))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > cap {
            return Err(TrackerError::Rejected(format!(
                "{what}: the answer is over {cap} bytes"
            )));
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_only_under_the_base() {
        let base = "https://jira.acme.example";
        assert_eq!(
            under_base(base, "/myself", "/rest/api/2", "Jira").unwrap(),
            "https://jira.acme.example/rest/api/2/myself"
        );
        assert!(
            under_base(
                base,
                "https://jira.acme.example/secure/attachment/1/a",
                "",
                "Jira"
            )
            .is_ok()
        );
        for elsewhere in [
            "https://evil.example/x",
            "https://jira.acme.example.evil.example/x",
            "http://jira.acme.example/x",
        ] {
            assert!(
                under_base(base, elsewhere, "", "Jira").is_err(),
                "{elsewhere}"
            );
        }
    }
}

/// `s` percent-encoded for a URL path segment or query value (RFC 3986:
/// everything but the unreserved characters).
pub(super) fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
