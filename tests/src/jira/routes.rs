//! The REST v2 routes of the Jira test server, each answering as Jira Data
//! Center does for the calls the connector makes: auth first (401), then the
//! rate-limit budget (429 with `Retry-After`), then the request delay.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Query as QueryParams, Request};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::Shared;
use super::jql::Query;
use super::state::{API_USER, STATUSES, State, now_ms};

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json;charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

fn errors(status: StatusCode, messages: &[&str], fields: &[(&str, &str)]) -> Response {
    let fields: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    reply(
        status,
        json!({ "errorMessages": messages, "errors": fields }),
    )
}

fn not_found(what: &str) -> Response {
    errors(
        StatusCode::NOT_FOUND,
        &[&format!(
            "{what} does not exist or you do not have permission to see it."
        )],
        &[],
    )
}

fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if let Some(token) = value.strip_prefix("Bearer ") {
        return token == shared.token;
    }
    if let Some(basic) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .unwrap_or_default();
        return decoded == format!("{API_USER}:{}", shared.token).into_bytes();
    }
    false
}

pub async fn handle(shared: Arc<Shared>, request: Request) -> Response {
    let stats = &shared.stats;
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let now_in = stats.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    stats.max_in_flight.fetch_max(now_in, Ordering::Relaxed);
    let response = answer(&shared, request).await;
    stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    response
}

async fn answer(shared: &Arc<Shared>, request: Request) -> Response {
    if !authorised(shared, request.headers()) {
        return errors(
            StatusCode::UNAUTHORIZED,
            &["You are not authenticated. Authentication required to perform this operation."],
            &[],
        );
    }
    let n = shared.stats.authorised.fetch_add(1, Ordering::Relaxed) + 1;
    if shared
        .options
        .rate_limit_every
        .is_some_and(|every| n % every == 0)
    {
        shared.stats.limited.fetch_add(1, Ordering::Relaxed);
        let mut r = errors(
            StatusCode::TOO_MANY_REQUESTS,
            &["Rate limit exceeded."],
            &[],
        );
        let headers = r.headers_mut();
        headers.insert(
            "retry-after",
            shared.options.retry_after_secs.to_string().parse().unwrap(),
        );
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        return r;
    }
    if !shared.options.delay.is_zero() {
        tokio::time::sleep(shared.options.delay).await;
    }
    let method = request.method().clone();
    let uri = request.uri().clone();
    let path: Vec<String> = uri
        .path()
        .trim_matches('/')
        .split('/')
        .map(String::from)
        .collect();
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    let params: HashMap<String, String> = QueryParams::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default();
    if let ["secure", "attachment", id, _name] = p.as_slice() {
        return download(shared, id);
    }
    let Some(["rest", "api", "2", rest @ ..]) = Some(p.as_slice()) else {
        return not_found("The page");
    };
    let rest: Vec<&str> = rest.to_vec();
    if matches!(rest.as_slice(), ["issue", _, "attachments"]) && method == Method::POST {
        return upload(shared, rest[1], request).await;
    }
    let body = match axum::body::to_bytes(request.into_body(), 16 << 20).await {
        Ok(b) => b,
        Err(_) => {
            return errors(
                StatusCode::PAYLOAD_TOO_LARGE,
                &["The request is too large."],
                &[],
            );
        }
    };
    let json: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return errors(
                    StatusCode::BAD_REQUEST,
                    &[&format!("Unexpected character in the JSON body: {e}")],
                    &[],
                );
            }
        }
    };
    let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    match (method, rest.as_slice()) {
        (Method::GET, ["myself"]) => reply(StatusCode::OK, state.user(API_USER)),
        (Method::POST, ["issue"]) => create_issue(&mut state, &json),
        (Method::GET, ["issue", "createmeta", project, "issuetypes"]) => {
            issue_types(&state, project, &params)
        }
        (Method::GET, ["issue", "createmeta"]) => not_found("The page"),
        (Method::GET, ["issue", id]) => {
            let Some(i) = state.issue_index(id) else {
                return not_found("Issue");
            };
            let fields = params
                .get("fields")
                .map(|f| f.split(',').map(String::from).collect::<Vec<_>>());
            let props: Vec<String> = params
                .get("properties")
                .map(|p| p.split(',').map(String::from).collect())
                .unwrap_or_default();
            let bean = state.issue_json(
                &state.issues[i],
                fields.as_deref(),
                &props,
                shared.options.comment_field_limit,
            );
            reply(StatusCode::OK, bean)
        }
        (Method::PUT, ["issue", id]) => edit_issue(&mut state, id, &json),
        (Method::GET, ["issue", id, "comment"]) => {
            let Some(i) = state.issue_index(id) else {
                return not_found("Issue");
            };
            let start: usize = params
                .get("startAt")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let max = params
                .get("maxResults")
                .and_then(|s| s.parse().ok())
                .unwrap_or(50usize)
                .min(shared.options.max_page);
            let expand = params
                .get("expand")
                .is_some_and(|e| e.contains("properties"));
            let issue = &state.issues[i];
            let comments: Vec<Value> = issue
                .comments
                .iter()
                .skip(start)
                .take(max)
                .map(|c| state.comment_json(issue, c, expand))
                .collect();
            reply(
                StatusCode::OK,
                json!({ "startAt": start, "maxResults": max, "total": issue.comments.len(), "comments": comments }),
            )
        }
        (Method::POST, ["issue", id, "comment"]) => {
            let Some(i) = state.issue_index(id) else {
                return not_found("Issue");
            };
            let Some(body) = json["body"].as_str().filter(|b| !b.trim().is_empty()) else {
                return errors(
                    StatusCode::BAD_REQUEST,
                    &[],
                    &[("comment", "Comment body can not be empty!")],
                );
            };
            let visibility = json.get("visibility").filter(|v| !v.is_null()).cloned();
            let cid = state.add_comment(i, API_USER, body, visibility, properties_of(&json));
            let issue = &state.issues[i];
            let c = issue
                .comments
                .iter()
                .find(|c| c.id == cid)
                .expect("new comment");
            reply(StatusCode::CREATED, state.comment_json(issue, c, false))
        }
        (Method::GET, ["issue", id, "comment", cid]) => {
            let Some(i) = state.issue_index(id) else {
                return not_found("Issue");
            };
            let issue = &state.issues[i];
            match issue.comments.iter().find(|c| c.id.to_string() == *cid) {
                Some(c) => reply(StatusCode::OK, state.comment_json(issue, c, false)),
                None => not_found("Comment"),
            }
        }
        (Method::PUT, ["issue", id, "comment", cid]) => {
            let Some(i) = state.issue_index(id) else {
                return not_found("Issue");
            };
            let Some(body) = json["body"].as_str() else {
                return errors(
                    StatusCode::BAD_REQUEST,
                    &[],
                    &[("comment", "Comment body can not be empty!")],
                );
            };
            let now = state.tick();
            let issue = &mut state.issues[i];
            let Some(c) = issue.comments.iter_mut().find(|c| c.id.to_string() == *cid) else {
                return not_found("Comment");
            };
            c.body = body.into();
            c.updated = now;
            issue.updated = now;
            let issue = &state.issues[i];
            let c = issue
                .comments
                .iter()
                .find(|c| c.id.to_string() == *cid)
                .expect("comment");
            reply(StatusCode::OK, state.comment_json(issue, c, false))
        }
        (Method::GET, ["issue", id, "remotelink"]) => {
            let Some(i) = state.issue_index(id) else {
                return not_found("Issue");
            };
            let links = &state.issues[i].remote_links;
            match params.get("globalId") {
                Some(g) => match links
                    .iter()
                    .find(|l| l["globalId"].as_str() == Some(g.as_str()))
                {
                    Some(l) => reply(StatusCode::OK, l.clone()),
                    None => not_found("Remote link"),
                },
                None => reply(StatusCode::OK, Value::Array(links.clone())),
            }
        }
        (Method::POST, ["issue", id, "remotelink"]) => {
            let Some(i) = state.issue_index(id) else {
                return not_found("Issue");
            };
            let object = &json["object"];
            if object["url"].as_str().is_none_or(str::is_empty) {
                return errors(
                    StatusCode::BAD_REQUEST,
                    &[],
                    &[("url", "Remote link URL is required.")],
                );
            }
            if object["title"].as_str().is_none_or(str::is_empty) {
                return errors(
                    StatusCode::BAD_REQUEST,
                    &[],
                    &[("title", "Remote link title is required.")],
                );
            }
            let mut link = json!({ "object": object.clone() });
            for member in ["globalId", "application", "relationship"] {
                if let Some(v) = json.get(member).filter(|v| !v.is_null()) {
                    link[member] = v.clone();
                }
            }
            let (lid, new) = state.put_remote_link(i, link);
            let url = format!(
                "{}/rest/api/2/issue/{}/remotelink/{lid}",
                state.base, state.issues[i].id
            );
            reply(
                if new {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                json!({ "id": lid, "self": url }),
            )
        }
        (Method::GET, ["issue", id, "transitions"]) => {
            let Some(i) = state.issue_index(id) else {
                return not_found("Issue");
            };
            let current = state.issues[i].status.clone();
            let list: Vec<Value> = STATUSES
                .iter()
                .filter(|(_, name)| *name != current)
                .map(|(sid, name)| json!({
                    "id": format!("{sid}1"), "name": format!("To {name}"),
                    "to": { "self": format!("{}/rest/api/2/status/{sid}", state.base), "id": sid, "name": name },
                }))
                .collect();
            reply(
                StatusCode::OK,
                json!({ "expand": "transitions", "transitions": list }),
            )
        }
        (Method::POST, ["issue", id, "transitions"]) => {
            let Some(i) = state.issue_index(id) else {
                return not_found("Issue");
            };
            let wanted = json["transition"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let Some((_, name)) = STATUSES.iter().find(|(sid, _)| format!("{sid}1") == wanted)
            else {
                return errors(
                    StatusCode::BAD_REQUEST,
                    &[],
                    &[("transition", "Transition id is not valid.")],
                );
            };
            let now = state.tick();
            state.issues[i].status = name.to_string();
            state.issues[i].updated = now;
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::GET, ["attachment", id]) => {
            let found = state
                .issues
                .iter()
                .flat_map(|i| &i.attachments)
                .find(|a| a.id.to_string() == *id)
                .cloned();
            match found {
                Some(a) => {
                    // The schema gives this endpoint's `id` as an integer
                    // (and `Attachment`'s as a string): as published.
                    let mut meta = state.attachment_json(&a);
                    meta["id"] = json!(a.id);
                    reply(StatusCode::OK, meta)
                }
                None => not_found("Attachment"),
            }
        }
        (Method::GET, ["search"]) => {
            let get = |k: &str| params.get(k).cloned();
            let request = json!({
                "jql": get("jql").unwrap_or_default(),
                "startAt": get("startAt").and_then(|s| s.parse::<u64>().ok()).unwrap_or(0),
                "maxResults": get("maxResults").and_then(|s| s.parse::<u64>().ok()).unwrap_or(50),
                "fields": get("fields").map(|f| f.split(',').map(String::from).collect::<Vec<_>>()),
                "properties": get("properties").map(|f| f.split(',').map(String::from).collect::<Vec<_>>()),
            });
            search(
                &state,
                &request,
                shared.options.max_page,
                shared.options.comment_field_limit,
            )
        }
        (Method::POST, ["search"]) => search(
            &state,
            &json,
            shared.options.max_page,
            shared.options.comment_field_limit,
        ),
        _ => not_found("The page"),
    }
}

fn properties_of(json: &Value) -> BTreeMap<String, Value> {
    json["properties"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|p| Some((p["key"].as_str()?.to_string(), p["value"].clone())))
                .collect()
        })
        .unwrap_or_default()
}

fn create_issue(state: &mut State, json: &Value) -> Response {
    let f = &json["fields"];
    let project = f["project"]["key"]
        .as_str()
        .or(f["project"]["id"].as_str())
        .unwrap_or_default();
    let issue_type = f["issuetype"]["name"]
        .as_str()
        .or(f["issuetype"]["id"].as_str())
        .unwrap_or_default();
    let summary = f["summary"].as_str().unwrap_or_default();
    let description = f["description"].as_str().map(String::from);
    match state.create_issue(
        project,
        issue_type,
        summary,
        description,
        API_USER,
        properties_of(json),
    ) {
        Ok((id, key)) => {
            let i = state.issue_index(&key).expect("new issue");
            if let Some(labels) = f["labels"].as_array() {
                state.issues[i].labels = labels
                    .iter()
                    .filter_map(|l| l.as_str().map(String::from))
                    .collect();
            }
            if let Some(p) = f["priority"]["name"].as_str() {
                state.issues[i].priority = Some(p.into());
            }
            reply(
                StatusCode::CREATED,
                json!({ "id": id.to_string(), "key": key, "self": format!("{}/rest/api/2/issue/{id}", state.base) }),
            )
        }
        Err((field, message)) => errors(StatusCode::BAD_REQUEST, &[], &[(&field, &message)]),
    }
}

fn edit_issue(state: &mut State, id: &str, json: &Value) -> Response {
    let Some(i) = state.issue_index(id) else {
        return not_found("Issue");
    };
    let Some(fields) = json["fields"].as_object() else {
        return errors(StatusCode::BAD_REQUEST, &["No fields to update."], &[]);
    };
    let project = state
        .project(&state.issues[i].project)
        .cloned()
        .expect("project");
    let now = state.tick();
    let issue = &mut state.issues[i];
    for (k, v) in fields {
        match k.as_str() {
            "summary" => match v.as_str().filter(|s| !s.trim().is_empty()) {
                Some(s) => issue.summary = s.into(),
                None => {
                    return errors(
                        StatusCode::BAD_REQUEST,
                        &[],
                        &[("summary", "You must specify a summary of the issue.")],
                    );
                }
            },
            "description" => issue.description = v.as_str().map(String::from),
            "issuetype" => {
                let wanted = v["name"].as_str().or(v["id"].as_str()).unwrap_or_default();
                match project
                    .types
                    .iter()
                    .find(|(tid, name, _)| name == wanted || tid == wanted)
                {
                    Some((tid, _, _)) => issue.type_id = tid.clone(),
                    None => {
                        return errors(
                            StatusCode::BAD_REQUEST,
                            &[],
                            &[("issuetype", "The issue type selected is invalid.")],
                        );
                    }
                }
            }
            "priority" => issue.priority = v["name"].as_str().map(String::from),
            "labels" => {
                issue.labels = v
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            }
            k if k.starts_with("customfield_") => {
                issue.custom.insert(k.into(), v.clone());
            }
            other => {
                return errors(
                    StatusCode::BAD_REQUEST,
                    &[],
                    &[(
                        other,
                        &format!(
                            "Field '{other}' cannot be set. It is not on the appropriate screen, or unknown."
                        ),
                    )],
                );
            }
        }
    }
    issue.updated = now;
    StatusCode::NO_CONTENT.into_response()
}

fn issue_types(state: &State, project: &str, params: &HashMap<String, String>) -> Response {
    let Some(p) = state.project(project) else {
        return not_found(&format!("Project '{project}'"));
    };
    let start: usize = params
        .get("startAt")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let max: usize = params
        .get("maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    // Two per page, so the connector's paging is exercised.
    let max = max.min(2);
    let values: Vec<Value> = p
        .types
        .iter()
        .skip(start)
        .take(max)
        .map(|(id, name, sub)| state.type_json(id, name, *sub))
        .collect();
    let is_last = start + values.len() >= p.types.len();
    reply(
        StatusCode::OK,
        json!({ "maxResults": max, "startAt": start, "total": p.types.len(), "isLast": is_last, "values": values }),
    )
}

fn search(state: &State, json: &Value, max_page: usize, comment_limit: usize) -> Response {
    let jql = json["jql"].as_str().unwrap_or_default();
    let query = match Query::parse(jql) {
        Ok(q) => q,
        Err(e) => return errors(StatusCode::BAD_REQUEST, &[&e], &[]),
    };
    let now = now_ms();
    let mut hits = Vec::new();
    for issue in &state.issues {
        match query.matches(state, issue, now) {
            Ok(true) => hits.push(issue),
            Ok(false) => {}
            Err(e) => return errors(StatusCode::BAD_REQUEST, &[&e], &[]),
        }
    }
    query.sort(&mut hits);
    let start = json["startAt"].as_u64().unwrap_or(0) as usize;
    // Jira caps `maxResults` silently and may return fewer than it says.
    let max = (json["maxResults"].as_u64().unwrap_or(50) as usize).min(max_page);
    let fields: Option<Vec<String>> = json["fields"].as_array().map(|f| {
        f.iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    });
    let props: Vec<String> = json["properties"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let issues: Vec<Value> = hits
        .iter()
        .skip(start)
        .take(max)
        .map(|i| state.issue_json(i, fields.as_deref(), &props, comment_limit))
        .collect();
    reply(
        StatusCode::OK,
        json!({
            "expand": "schema,names", "startAt": start, "maxResults": max, "total": hits.len(), "issues": issues,
        }),
    )
}

async fn upload(shared: &Arc<Shared>, id: &str, request: Request) -> Response {
    if request
        .headers()
        .get("x-atlassian-token")
        .and_then(|v| v.to_str().ok())
        != Some("no-check")
    {
        return errors(StatusCode::FORBIDDEN, &["XSRF check failed"], &[]);
    }
    let mut form = match Multipart::from_request(request, &()).await {
        Ok(f) => f,
        Err(e) => {
            return errors(
                StatusCode::BAD_REQUEST,
                &[&format!("not a multipart request: {e}")],
                &[],
            );
        }
    };
    let mut files = Vec::new();
    loop {
        match form.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => {
                let name = field.file_name().unwrap_or("attachment").to_string();
                match field.bytes().await {
                    Ok(bytes) => files.push((name, bytes.to_vec())),
                    Err(e) => return errors(StatusCode::BAD_REQUEST, &[&e.to_string()], &[]),
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => return errors(StatusCode::BAD_REQUEST, &[&e.to_string()], &[]),
        }
    }
    if files.is_empty() {
        return errors(
            StatusCode::BAD_REQUEST,
            &["No file was attached in the multipart field 'file'."],
            &[],
        );
    }
    let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    let Some(i) = state.issue_index(id) else {
        return not_found("Issue");
    };
    let mut out = Vec::new();
    for (name, bytes) in files {
        let aid = state.add_attachment(i, API_USER, &name, bytes);
        let a = state.issues[i]
            .attachments
            .iter()
            .find(|a| a.id == aid)
            .cloned()
            .expect("attachment");
        out.push(state.attachment_json(&a));
    }
    reply(StatusCode::OK, Value::Array(out))
}

fn download(shared: &Arc<Shared>, id: &str) -> Response {
    let state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    match state
        .issues
        .iter()
        .flat_map(|i| &i.attachments)
        .find(|a| a.id.to_string() == id)
    {
        Some(a) => (
            StatusCode::OK,
            [("content-type", a.mime_type.clone())],
            Body::from(a.bytes.clone()),
        )
            .into_response(),
        None => not_found("Attachment"),
    }
}
