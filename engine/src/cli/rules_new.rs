//! `tandem rules new DIR`: a standalone rules crate that starts from Basic —
//! the Basic mapping in editable form, a copy of the contract it targets,
//! fixtures, and tests that run the built component through `tandem rules
//! test`. It builds outside this repository and needs no wasmtime.

use std::path::Path;

use super::CliError;

/// The files of a new rules crate: (path, contents with placeholders).
const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("scaffold/Cargo.toml.in")),
    ("README.md", include_str!("scaffold/README.md.in")),
    (".gitignore", include_str!("scaffold/gitignore.in")),
    ("src/lib.rs", include_str!("scaffold/lib.rs.in")),
    (
        "src/basic.rs",
        include_str!("../../../rules-basic/src/basic.rs"),
    ),
    ("wit/rules.wit", include_str!("../../../wit/rules.wit")),
    (
        "fixtures/issue.json",
        include_str!("../../../examples/basic/issue.json"),
    ),
    (
        "fixtures/context.json",
        include_str!("../../../examples/basic/context.json"),
    ),
    ("tests/rules.rs", include_str!("scaffold/tests.rs.in")),
];

/// Writes the crate into `dir` (which must not exist or be empty).
pub fn run(dir: &Path, json: bool) -> Result<(), CliError> {
    let io =
        |e: std::io::Error| CliError::failed("io", format!("cannot write {}: {e}", dir.display()));
    if dir.exists() && std::fs::read_dir(dir).map_err(io)?.next().is_some() {
        return Err(CliError::failed(
            "exists",
            format!(
                "{} exists and is not empty; choose a new directory",
                dir.display()
            ),
        ));
    }
    let name = crate_name(dir)?;
    let wasm = name.replace('-', "_");
    for (path, text) in FILES {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let text = text.replace("{{name}}", &name).replace("{{wasm}}", &wasm);
        std::fs::write(&target, text).map_err(io)?;
    }
    super::output(
        json,
        &serde_json::json!({ "dir": dir, "crate": name, "component": format!("target/wasm32-wasip2/release/{wasm}.wasm") }),
        format!(
            "rules crate `{name}` created in {}, starting from the Basic rules (edit src/basic.rs)\n  build: cargo build --release --target wasm32-wasip2\n  test:  TANDEM={} cargo test",
            dir.display(),
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "tandem".into())
        ),
    );
    Ok(())
}

/// A cargo package name from the directory's name.
fn crate_name(dir: &Path) -> Result<String, CliError> {
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-').to_string();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(CliError::usage(format!(
            "`{base}` does not make a crate name; name the directory with a letter first, like my-rules"
        )));
    }
    Ok(name)
}
