//! `cargo run -p xtask -- build-basic|check-basic`: see `rules-basic/RELEASING.md`.

use anyhow::bail;

fn main() -> anyhow::Result<()> {
    let root = xtask::repo_root();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["build-basic"] | ["build-basic", "--out", _] => {
            let out = args
                .get(2)
                .map_or_else(|| root.join("target/basic.unsigned.wasm"), Into::into);
            let component = xtask::build_basic(&root)?;
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&out, component)?;
            println!("{}", out.display());
            println!(
                "next: tandem rules sign --key-file RELEASE_KEY {} -o rules-basic/dist/basic.wasm",
                out.display()
            );
            Ok(())
        }
        ["check-basic"] => {
            let artifact = std::fs::read(root.join("rules-basic/dist/basic.wasm"))?;
            let sources = xtask::basic_source_hash(&root)?;
            match xtask::recorded_hash(&artifact)? {
                Some(recorded) if recorded == sources => {
                    println!("rules-basic/dist/basic.wasm matches its sources ({sources})");
                    Ok(())
                }
                Some(recorded) => bail!(
                    "rules-basic/dist/basic.wasm is stale: built from {recorded}, sources are {sources}; rebuild and re-sign it (rules-basic/RELEASING.md)"
                ),
                None => bail!("rules-basic/dist/basic.wasm carries no source stamp"),
            }
        }
        _ => bail!("usage: xtask build-basic [--out PATH] | xtask check-basic"),
    }
}
