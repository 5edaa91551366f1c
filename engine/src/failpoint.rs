//! Failpoints for crash tests: with `TANDEM_FAILPOINT=NAME` in its environment
//! the process exits abruptly (no unwinding, no flushing) when it reaches
//! `NAME`, as a power cut or `kill -9` would stop it there.

use std::sync::OnceLock;

/// Exits the process with status 86 if `name` is the armed failpoint.
pub fn hit(name: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("TANDEM_FAILPOINT").ok());
    if armed.as_deref() == Some(name) {
        eprintln!("failpoint `{name}` reached: exiting");
        std::process::exit(86);
    }
}
