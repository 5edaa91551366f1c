// Rules in JavaScript (componentize-js): Basic's members, but internal
// comments stay home. Records arrive and leave in camelCase; `undefined` is
// an absent option.
export function outgoing(ctx, issue) {
  return {
    key: issue.key,
    summary: issue.summary,
    description: issue.description,
    issueType: issue.issueType,
    status: undefined,
    priority: undefined,
    labels: undefined,
    comments: issue.comments.filter((c) => !c.internal),
    attachments: issue.attachments,
    fields: [],
  };
}

// Applies the summary and description when they changed since the previous
// replica; comments arrive public; the type is mirrored or the default.
export function incoming(ctx, replica, previous, local) {
  const changed = (field) =>
    replica[field] !== undefined &&
    (previous === undefined || previous[field] !== replica[field]) &&
    (local === undefined || local[field] !== replica[field])
      ? replica[field]
      : undefined;
  const types = ctx.project.issueTypes;
  let issueType = undefined;
  if (replica.issueType !== undefined && (previous === undefined || previous.issueType !== replica.issueType)) {
    issueType = types.includes(replica.issueType)
      ? replica.issueType
      : ctx.project.defaultIssueType ?? "Task";
  }
  return {
    summary: changed("summary"),
    description: changed("description"),
    issueType,
    status: undefined,
    priority: undefined,
    labels: undefined,
    fields: [],
    comments: replica.comments.map((c) => ({ remoteId: c.id, author: c.author, body: c.body, internal: false })),
    attachments: replica.attachments.map((a) => ({ remoteId: a.id, filename: a.filename })),
  };
}
