// Included by each rules guest: the bindings and a do-nothing `incoming`.
wit_bindgen::generate!({ path: "../../../wit", world: "rules" });

#[allow(dead_code)]
fn empty_update() -> Update {
    Update {
        summary: None,
        description: None,
        issue_type: None,
        status: None,
        priority: None,
        labels: None,
        fields: Vec::new(),
        comments: Vec::new(),
        attachments: Vec::new(),
    }
}

#[allow(dead_code)]
fn replica_with_summary(issue: &Issue, summary: String) -> Replica {
    Replica {
        key: issue.key.clone(),
        summary: Some(summary),
        description: None,
        issue_type: None,
        status: None,
        priority: None,
        labels: None,
        comments: Vec::new(),
        attachments: Vec::new(),
        fields: Vec::new(),
    }
}
