//! `tandem rules …`: test components offline against JSON fixtures, and make,
//! use and check signing keys. Secret keys come from files only.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::CliError;
use super::input::{read_capped, read_json};
use crate::model::{Context, Issue, Replica};
use crate::rules::{BASIC_NAME, Limits, RulesComponent, RulesHost, TrustedKeys, signing};

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Run rules on JSON fixtures, with no tracker and no node involved.
    #[command(subcommand)]
    Test(TestCommand),
    /// Make a signing key pair: KEYFILE (secret, mode 0600) and KEYFILE.pub.
    Keygen {
        /// Where to write the secret key; the public key goes next to it as KEYFILE.pub.
        #[arg(long, value_name = "KEYFILE")]
        out: PathBuf,
    },
    /// Sign a rules component with a secret key file.
    Sign {
        /// The secret key written by `tandem rules keygen`.
        #[arg(long, value_name = "KEYFILE")]
        key_file: PathBuf,
        /// The component to sign.
        #[arg(value_name = "IN.wasm")]
        input: PathBuf,
        /// Where to write the signed component.
        #[arg(short = 'o', long = "out", value_name = "OUT.wasm")]
        output: PathBuf,
    },
    /// Start a rules crate from the Basic rules (builds outside this repository).
    New {
        /// Where to create it (must not exist, or be empty).
        dir: PathBuf,
    },
    /// Check that a component is signed by a public key.
    Verify {
        /// The public key (KEYFILE.pub).
        #[arg(long = "pub", value_name = "PUBFILE")]
        public_key: PathBuf,
        /// The component to check.
        #[arg(value_name = "IN.wasm")]
        input: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum TestCommand {
    /// Build the replica an issue would be sent as; prints it as JSON.
    Outgoing {
        #[command(flatten)]
        rules: RulesArg,
        /// The local issue (DESIGN.md's issue shape).
        #[arg(long, value_name = "ISSUE.json")]
        issue: PathBuf,
        /// Where the rule runs; defaults to a first sync in the issue's project.
        #[arg(long, value_name = "CTX.json")]
        context: Option<PathBuf>,
    },
    /// Decide what an incoming replica changes here; prints the update as JSON.
    Incoming {
        #[command(flatten)]
        rules: RulesArg,
        /// The replica that arrived.
        #[arg(long, value_name = "R.json")]
        replica: PathBuf,
        /// The replica received before it, if any.
        #[arg(long, value_name = "R0.json")]
        previous: Option<PathBuf>,
        /// This side's twin issue, if it exists yet.
        #[arg(long, value_name = "ISSUE.json")]
        local: Option<PathBuf>,
        /// Where the rule runs (connection, side, destination project).
        #[arg(long, value_name = "CTX.json")]
        context: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct RulesArg {
    /// `basic` for the bundled Basic rules, or a component file.
    #[arg(long, value_name = "basic|FILE.wasm")]
    rules: String,
    /// Require the component to be signed by this public key (repeatable).
    #[arg(long, value_name = "PUBFILE")]
    trusted_key: Vec<PathBuf>,
    /// Wall-clock limit of one call, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = Limits::default().deadline_ms)]
    deadline_ms: u64,
    /// Memory cap of one call, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().memory_mib)]
    memory_mib: usize,
}

impl RulesArg {
    fn load(&self) -> Result<RulesComponent, CliError> {
        let limits = Limits {
            deadline_ms: self.deadline_ms,
            memory_mib: self.memory_mib,
            // One call at a time here.
            max_instances: 2,
            ..Limits::default()
        };
        let host = RulesHost::new(limits, None)?;
        if self.rules == BASIC_NAME {
            return Ok(host.load_basic()?);
        }
        let trust = if self.trusted_key.is_empty() {
            None
        } else {
            Some(TrustedKeys::from_files(&self.trusted_key)?)
        };
        Ok(host.load_file(Path::new(&self.rules), trust.as_ref())?)
    }
}

impl RulesCommand {
    pub fn run(self, json: bool) -> Result<(), CliError> {
        match self {
            RulesCommand::Test(test) => test.run(),
            RulesCommand::Keygen { out } => {
                let public = signing::keygen(&out)?;
                if json {
                    let body = serde_json::json!({ "secret_key": out, "public_key": public });
                    println!("{body}");
                } else {
                    println!(
                        "secret key: {} (mode 0600; keep it out of any repository)",
                        out.display()
                    );
                    println!("public key: {}", public.display());
                }
                Ok(())
            }
            RulesCommand::Sign {
                key_file,
                input,
                output,
            } => {
                let key = signing::read_secret_key(&key_file)?;
                let bytes = read_component(&input)?;
                let signed = signing::sign(&key, &bytes)?;
                std::fs::write(&output, signed).map_err(|e| {
                    CliError::failed("io", format!("cannot write `{}`: {e}", output.display()))
                })?;
                super::output(
                    json,
                    &serde_json::json!({ "signed": output }),
                    format!("signed {} -> {}", input.display(), output.display()),
                );
                Ok(())
            }
            RulesCommand::New { dir } => super::rules_new::run(&dir, json),
            RulesCommand::Verify { public_key, input } => {
                let keys = TrustedKeys::from_files(std::slice::from_ref(&public_key))?;
                let bytes = read_component(&input)?;
                keys.verify(&bytes).map_err(|reason| {
                    CliError::failed("verification", format!("`{}`: {reason}", input.display()))
                })?;
                super::output(
                    json,
                    &serde_json::json!({ "verified": input, "key": public_key }),
                    format!(
                        "{}: signature valid ({})",
                        input.display(),
                        public_key.display()
                    ),
                );
                Ok(())
            }
        }
    }
}

impl TestCommand {
    fn run(self) -> Result<(), CliError> {
        match self {
            TestCommand::Outgoing {
                rules,
                issue,
                context,
            } => {
                let issue: Issue = read_json(&issue, "issue")?;
                let ctx = match context {
                    Some(path) => read_json(&path, "context")?,
                    None => Context::for_test(&issue),
                };
                let component = rules.load()?;
                let call = component.outgoing_logged(&ctx, &issue);
                print_log(&call.log);
                print_json(&call.result?)
            }
            TestCommand::Incoming {
                rules,
                replica,
                previous,
                local,
                context,
            } => {
                let replica: Replica = read_json(&replica, "replica")?;
                let previous: Option<Replica> =
                    previous.map(|p| read_json(&p, "replica")).transpose()?;
                let local: Option<Issue> = local.map(|p| read_json(&p, "issue")).transpose()?;
                let ctx: Context = read_json(&context, "context")?;
                let component = rules.load()?;
                let call =
                    component.incoming_logged(&ctx, &replica, previous.as_ref(), local.as_ref());
                print_log(&call.log);
                print_json(&call.result?)
            }
        }
    }
}

fn read_component(path: &Path) -> Result<Vec<u8>, CliError> {
    read_capped(path, Limits::default().max_component_bytes() as u64)
}

/// What the rule printed goes to stderr, so stdout stays the JSON result.
fn print_log(log: &str) {
    if !log.is_empty() {
        eprintln!("--- rule log ---\n{}", log.trim_end());
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::failed("output", e.to_string()))?;
    println!("{text}");
    Ok(())
}
