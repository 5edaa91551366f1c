//! `tandem project …`: projects of the embedded `local` tracker.

use clap::Subcommand;
use serde::{Deserialize, Serialize};

use super::CliError;
use crate::admin::{Reply, Request};
use crate::node::Node;

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

/// `tandem project` as data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectRequest {
    Create {
        key: String,
        types: Vec<String>,
        default_type: Option<String>,
    },
    List,
}

impl ProjectCommand {
    pub fn request(self) -> Request {
        Request::Project(match self {
            ProjectCommand::Create {
                key,
                types,
                default_type,
            } => ProjectRequest::Create {
                key,
                types,
                default_type,
            },
            ProjectCommand::List => ProjectRequest::List,
        })
    }
}

pub fn handle(node: &Node, request: ProjectRequest) -> Result<Reply, CliError> {
    let tracker = super::issue::local_tracker(node)?;
    match request {
        ProjectRequest::Create {
            key,
            types,
            default_type,
        } => {
            let info = tracker.create_project(&key, &types, default_type.as_deref())?;
            Ok(Reply::new(&info, &info.key))
        }
        ProjectRequest::List => {
            let projects = tracker.projects()?;
            let text = projects
                .iter()
                .map(|p| {
                    let default = p
                        .default_issue_type
                        .as_ref()
                        .map(|d| format!(" (default {d})"))
                        .unwrap_or_default();
                    format!("{}\t{}{default}", p.key, p.issue_types.join(","))
                })
                .collect::<Vec<_>>()
                .join("\n");
            Ok(Reply::new(&projects, text))
        }
    }
}
