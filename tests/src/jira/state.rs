//! What the Jira test server holds: projects with their issue types,
//! issues with comments, attachments and entity properties, users; and how
//! each renders in Jira's v2 JSON (Data Center flavour: users have `name`
//! and `key`). Changes bump `updated` like Jira does.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

/// The user whose token the connector holds.
pub const API_USER: &str = "tandem";
/// The person who edits in Jira's UI in tests.
pub const PERSON: &str = "alice";

pub const STATUSES: [(&str, &str); 3] = [("1", "Open"), ("3", "In Progress"), ("10001", "Done")];
pub const PRIORITIES: [(&str, &str); 3] = [("2", "High"), ("3", "Medium"), ("4", "Low")];

#[derive(Clone, Debug)]
pub struct Project {
    pub id: u64,
    pub key: String,
    /// (id, name, subtask)
    pub types: Vec<(String, String, bool)>,
    next_number: u64,
}

#[derive(Clone, Debug)]
pub struct JiraComment {
    pub id: u64,
    pub author: String,
    pub body: String,
    pub created: i64,
    pub updated: i64,
    pub visibility: Option<Value>,
    pub properties: BTreeMap<String, Value>,
}

#[derive(Clone, Debug)]
pub struct JiraAttachment {
    pub id: u64,
    pub filename: String,
    pub author: String,
    pub created: i64,
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct JiraIssue {
    pub id: u64,
    pub key: String,
    pub project: String,
    pub type_id: String,
    pub summary: String,
    pub description: Option<String>,
    pub status: String,
    pub priority: Option<String>,
    pub labels: Vec<String>,
    pub creator: String,
    pub created: i64,
    pub updated: i64,
    pub comments: Vec<JiraComment>,
    pub attachments: Vec<JiraAttachment>,
    pub properties: BTreeMap<String, Value>,
    pub custom: BTreeMap<String, Value>,
    /// Remote links as `GET …/remotelink` returns them.
    pub remote_links: Vec<Value>,
}

#[derive(Default)]
pub struct State {
    pub base: String,
    pub projects: Vec<Project>,
    pub issues: Vec<JiraIssue>,
    next_id: u64,
    /// The last timestamp handed out: two changes never share a millisecond,
    /// as on a real Jira's single clock.
    last_ms: i64,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Jira's timestamp format, in UTC: `2026-12-04T10:00:00.000+0000`.
pub fn jira_time(ms: i64) -> String {
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64);
    let s = humantime::format_rfc3339_millis(t).to_string();
    format!("{}+0000", s.trim_end_matches('Z'))
}

impl State {
    pub fn new(base: &str) -> Self {
        State {
            base: base.into(),
            next_id: 10_000,
            ..Default::default()
        }
    }

    pub fn tick(&mut self) -> i64 {
        self.last_ms = now_ms().max(self.last_ms + 1);
        self.last_ms
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn add_project(&mut self, key: &str, types: &[&str]) {
        let id = self.id();
        let mut all: Vec<(String, String, bool)> = types
            .iter()
            .enumerate()
            .map(|(i, t)| ((10_000 + i).to_string(), t.to_string(), false))
            .collect();
        all.push(("10100".into(), "Sub-task".into(), true));
        self.projects.push(Project {
            id,
            key: key.into(),
            types: all,
            next_number: 0,
        });
    }

    pub fn project(&self, key_or_id: &str) -> Option<&Project> {
        self.projects
            .iter()
            .find(|p| p.key == key_or_id || p.id.to_string() == key_or_id)
    }

    pub fn issue_index(&self, key_or_id: &str) -> Option<usize> {
        self.issues
            .iter()
            .position(|i| i.key == key_or_id || i.id.to_string() == key_or_id)
    }

    /// Creates an issue; the error is Jira's `errors` member for a 400.
    #[allow(clippy::too_many_arguments)]
    pub fn create_issue(
        &mut self,
        project: &str,
        issue_type: &str,
        summary: &str,
        description: Option<String>,
        creator: &str,
        properties: BTreeMap<String, Value>,
    ) -> Result<(u64, String), (String, String)> {
        let Some(p) = self
            .projects
            .iter()
            .position(|p| p.key == project || p.id.to_string() == project)
        else {
            return Err(("project".into(), "Specify a valid project ID or key".into()));
        };
        let Some(t) = self.projects[p]
            .types
            .iter()
            .find(|(id, name, _)| name == issue_type || id == issue_type)
            .map(|(id, _, _)| id.clone())
        else {
            return Err((
                "issuetype".into(),
                "The issue type selected is invalid.".into(),
            ));
        };
        if summary.trim().is_empty() {
            return Err((
                "summary".into(),
                "You must specify a summary of the issue.".into(),
            ));
        }
        let id = self.id();
        let now = self.tick();
        self.projects[p].next_number += 1;
        let key = format!("{}-{}", self.projects[p].key, self.projects[p].next_number);
        self.issues.push(JiraIssue {
            id,
            key: key.clone(),
            project: self.projects[p].key.clone(),
            type_id: t,
            summary: summary.into(),
            description,
            status: "Open".into(),
            priority: Some("Medium".into()),
            labels: Vec::new(),
            creator: creator.into(),
            created: now,
            updated: now,
            comments: Vec::new(),
            attachments: Vec::new(),
            properties,
            custom: BTreeMap::new(),
            remote_links: Vec::new(),
        });
        Ok((id, key))
    }

    /// Adds a remote link, or replaces the one with the same `globalId`
    /// (Jira's upsert); true when it was new. Links change no `updated`.
    pub fn put_remote_link(&mut self, issue: usize, mut link: Value) -> (u64, bool) {
        let global = link
            .get("globalId")
            .and_then(Value::as_str)
            .map(String::from);
        let found = global.as_ref().and_then(|g| {
            self.issues[issue]
                .remote_links
                .iter()
                .position(|l| l["globalId"].as_str() == Some(g.as_str()))
        });
        let id = match found {
            Some(at) => self.issues[issue].remote_links[at]["id"]
                .as_u64()
                .unwrap_or_default(),
            None => self.id(),
        };
        link["id"] = Value::from(id);
        link["self"] = Value::from(format!(
            "{}/rest/api/2/issue/{}/remotelink/{id}",
            self.base, self.issues[issue].id
        ));
        match found {
            Some(at) => self.issues[issue].remote_links[at] = link,
            None => self.issues[issue].remote_links.push(link),
        }
        (id, found.is_none())
    }

    pub fn move_issue(&mut self, key: &str, project: &str) -> String {
        let i = self.issue_index(key).expect("issue");
        let p = self
            .projects
            .iter()
            .position(|p| p.key == project)
            .expect("project");
        self.projects[p].next_number += 1;
        let new_key = format!("{}-{}", self.projects[p].key, self.projects[p].next_number);
        let type_name = self
            .projects
            .iter()
            .find(|p| p.key == self.issues[i].project)
            .and_then(|old| old.types.iter().find(|t| t.0 == self.issues[i].type_id))
            .map(|t| t.1.clone())
            .unwrap_or_default();
        let type_id = self.projects[p]
            .types
            .iter()
            .find(|t| t.1 == type_name)
            .or(self.projects[p].types.first())
            .map(|t| t.0.clone())
            .unwrap_or_default();
        let now = self.tick();
        let issue = &mut self.issues[i];
        issue.key = new_key.clone();
        issue.project = project.into();
        issue.type_id = type_id;
        issue.updated = now;
        new_key
    }

    pub fn add_comment(
        &mut self,
        issue: usize,
        author: &str,
        body: &str,
        visibility: Option<Value>,
        properties: BTreeMap<String, Value>,
    ) -> u64 {
        let id = self.id();
        let now = self.tick();
        let i = &mut self.issues[issue];
        i.comments.push(JiraComment {
            id,
            author: author.into(),
            body: body.into(),
            created: now,
            updated: now,
            visibility,
            properties,
        });
        i.updated = now;
        id
    }

    pub fn add_attachment(
        &mut self,
        issue: usize,
        author: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> u64 {
        let id = self.id();
        let now = self.tick();
        let i = &mut self.issues[issue];
        i.attachments.push(JiraAttachment {
            id,
            filename: filename.into(),
            author: author.into(),
            created: now,
            mime_type: "application/octet-stream".into(),
            bytes,
        });
        i.updated = now;
        id
    }

    pub fn user(&self, name: &str) -> Value {
        json!({
            "self": format!("{}/rest/api/2/user?username={name}", self.base),
            "key": format!("JIRAUSER-{name}"),
            "name": name,
            "emailAddress": format!("{name}@example.test"),
            "displayName": name,
            "active": true,
            "timeZone": "UTC",
        })
    }

    fn user_details(&self, name: &str) -> Value {
        json!({
            "self": format!("{}/rest/api/2/user?username={name}", self.base),
            "key": format!("JIRAUSER-{name}"),
            "name": name,
            "displayName": name,
            "active": true,
            "timeZone": "UTC",
        })
    }

    pub fn comment_json(&self, issue: &JiraIssue, c: &JiraComment, with_properties: bool) -> Value {
        let mut v = json!({
            "self": format!("{}/rest/api/2/issue/{}/comment/{}", self.base, issue.id, c.id),
            "id": c.id.to_string(),
            "author": self.user_details(&c.author),
            "body": c.body,
            "updateAuthor": self.user_details(&c.author),
            "created": jira_time(c.created),
            "updated": jira_time(c.updated),
        });
        if let Some(vis) = &c.visibility {
            v["visibility"] = vis.clone();
        }
        if with_properties {
            v["properties"] = c
                .properties
                .iter()
                .map(|(k, val)| json!({ "key": k, "value": val }))
                .collect();
        }
        v
    }

    pub fn attachment_json(&self, a: &JiraAttachment) -> Value {
        json!({
            "self": format!("{}/rest/api/2/attachment/{}", self.base, a.id),
            "id": a.id.to_string(),
            "filename": a.filename,
            "author": self.user_details(&a.author),
            "created": jira_time(a.created),
            "size": a.bytes.len(),
            "mimeType": a.mime_type,
            // Data Center's download path.
            "content": format!("{}/secure/attachment/{}/{}", self.base, a.id, a.filename),
        })
    }

    pub fn type_json(&self, id: &str, name: &str, subtask: bool) -> Value {
        json!({
            "self": format!("{}/rest/api/2/issuetype/{id}", self.base),
            "id": id,
            "name": name,
            "description": "",
            "iconUrl": format!("{}/images/icons/issuetypes/{id}.svg", self.base),
            "subtask": subtask,
        })
    }

    fn named(&self, kind: &str, id: &str, name: &str) -> Value {
        json!({ "self": format!("{}/rest/api/2/{kind}/{id}", self.base), "id": id, "name": name })
    }

    /// An issue as `GET /issue` or a search hit renders it: the fields asked
    /// for (`None`: all), the properties asked for.
    pub fn issue_json(
        &self,
        i: &JiraIssue,
        fields: Option<&[String]>,
        properties: &[String],
        comment_field_limit: usize,
    ) -> Value {
        let want = |f: &str| {
            fields.is_none_or(|list| {
                list.iter()
                    .any(|x| x == f || x == "*all" || x == "*navigable")
            })
        };
        let project = self.project(&i.project).expect("issue's project");
        let mut out = serde_json::Map::new();
        if want("summary") {
            out.insert("summary".into(), json!(i.summary));
        }
        if want("description") {
            out.insert("description".into(), json!(i.description));
        }
        if want("issuetype") {
            let (id, name, sub) = project
                .types
                .iter()
                .find(|(id, _, _)| *id == i.type_id)
                .cloned()
                .unwrap_or_default();
            out.insert("issuetype".into(), self.type_json(&id, &name, sub));
        }
        if want("project") {
            out.insert(
                "project".into(),
                json!({
                    "self": format!("{}/rest/api/2/project/{}", self.base, project.id),
                    "id": project.id.to_string(), "key": project.key, "name": project.key,
                }),
            );
        }
        if want("status") {
            let (id, name) = STATUSES
                .iter()
                .find(|(_, n)| *n == i.status)
                .copied()
                .unwrap_or(("1", "Open"));
            out.insert("status".into(), self.named("status", id, name));
        }
        if want("priority") {
            let p = i
                .priority
                .as_ref()
                .and_then(|p| PRIORITIES.iter().find(|(_, n)| n == p))
                .map(|(id, n)| self.named("priority", id, n));
            out.insert("priority".into(), p.unwrap_or(Value::Null));
        }
        if want("labels") {
            out.insert("labels".into(), json!(i.labels));
        }
        if want("created") {
            out.insert("created".into(), json!(jira_time(i.created)));
        }
        if want("updated") {
            out.insert("updated".into(), json!(jira_time(i.updated)));
        }
        if want("creator") {
            out.insert("creator".into(), self.user_details(&i.creator));
        }
        if want("comment") {
            let shown: Vec<Value> = i
                .comments
                .iter()
                .take(comment_field_limit)
                .map(|c| self.comment_json(i, c, false))
                .collect();
            out.insert("comment".into(), json!({
                "comments": shown, "maxResults": comment_field_limit, "total": i.comments.len(), "startAt": 0,
            }));
        }
        if want("attachment") {
            out.insert(
                "attachment".into(),
                i.attachments
                    .iter()
                    .map(|a| self.attachment_json(a))
                    .collect(),
            );
        }
        for (k, v) in &i.custom {
            if want(k) {
                out.insert(k.clone(), v.clone());
            }
        }
        let mut bean = json!({
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": i.id.to_string(),
            "self": format!("{}/rest/api/2/issue/{}", self.base, i.id),
            "key": i.key,
            "fields": out,
        });
        if !properties.is_empty() {
            let props: serde_json::Map<String, Value> = i
                .properties
                .iter()
                .filter(|(k, _)| properties.iter().any(|p| p == *k || p == "*all"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            bean["properties"] = Value::Object(props);
        }
        bean
    }
}
