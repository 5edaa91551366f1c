//! `tandem project …`: projects of the embedded `local` tracker.

use clap::Subcommand;

use super::node::Node;
use super::{CliError, output};

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project with its issue types.
    Create {
        /// Project key, like OPS (issues become OPS-1, OPS-2, ...).
        key: String,
        /// Issue types, comma-separated: Bug,Task,Story.
        #[arg(long, value_delimiter = ',', required = true)]
        types: Vec<String>,
        /// The type incoming issues get when theirs is missing here.
        #[arg(long)]
        default_type: Option<String>,
    },
    /// List projects.
    List,
}

impl ProjectCommand {
    pub fn run(self, node: Node, json: bool) -> Result<(), CliError> {
        let tracker = node.local_tracker()?;
        match self {
            ProjectCommand::Create {
                key,
                types,
                default_type,
            } => {
                let info = tracker.create_project(&key, &types, default_type.as_deref())?;
                output(json, &info, &info.key);
            }
            ProjectCommand::List => {
                let projects = tracker.projects()?;
                if json {
                    println!("{}", serde_json::to_string(&projects).unwrap_or_default());
                } else {
                    for p in projects {
                        let default = p
                            .default_issue_type
                            .map(|d| format!(" (default {d})"))
                            .unwrap_or_default();
                        println!("{}\t{}{default}", p.key, p.issue_types.join(","));
                    }
                }
            }
        }
        Ok(())
    }
}
