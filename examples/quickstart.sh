#!/usr/bin/env bash
# The quickstart: builds tandem and runs the Basic rules on a sample issue, the
# way a rule author tests rules offline: outgoing (what leaves this side), then
# incoming on the other side (what lands there).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --locked -p tandem
tandem=target/debug/tandem
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== outgoing: the replica OPS-12 is sent as (status, priority, labels and custom fields stay home)"
$tandem rules test outgoing --rules basic --issue examples/basic/issue.json | tee "$work/replica.json"

echo
echo "== incoming on project SUP: Epic is missing there, so the default type Story; comments arrive public"
$tandem rules test incoming --rules basic --replica "$work/replica.json" --context examples/basic/context.json
