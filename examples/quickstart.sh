#!/usr/bin/env bash
# The quickstart: two tandem nodes with the embedded tracker on this machine,
# connected the way two admins would: acme is public, globex is private ("I
# don't have a URL") and only ever calls out. Issues with a comment and an
# attachment are created on each side and arrive on the other. Ends by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --locked -p tandem
tandem=$PWD/target/debug/tandem
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 7300)
A="$tandem --data $work/acme"
B="$tandem --data $work/globex"
step() { printf '\n== %s\n' "$*"; }
# Waits until a command's output contains a text.
wait_for() {
  local text=$1; shift
  for _ in $(seq 1 150); do
    if "$@" 2>/dev/null | grep -q -- "$text"; then return 0; fi
    sleep 0.2
  done
  echo "timed out waiting for '$text' from: $*" >&2
  exit 1
}

step "two nodes: acme (public, listens on 127.0.0.1:$port) and globex (private: no URL, no port)"
$A init --name acme --listen "127.0.0.1:$port" --public-url "http://127.0.0.1:$port"
$B init --name globex
$A project create OPS --types Bug,Task,Story
$B project create SUP --types Task,Story --default-type Story
$A serve 2>"$work/acme.log" & pids+=($!)
$B serve 2>"$work/globex.log" & pids+=($!)
wait_for running $A status
wait_for running $B status

step "acme: Initiate connection -> I don't have a URL -> Basic -> project OPS -> copy the code"
code=$($A connection initiate --no-url --mode basic --project OPS --trigger "project = OPS" --name acme-globex | tail -n 1)
echo "$code"

step "globex: Accept invitation -> paste the code -> project SUP"
$B connection accept --code "$code" --project SUP --trigger "project = SUP" --name globex-acme
$A connection list
$B connection list

step "acme creates OPS-1 with a comment, an internal note and an attachment"
$A issue create --project OPS --type Bug --summary "Printer on fire" --description "It smokes"
$A issue comment OPS-1 --body "Seen on floor 3"
$A issue comment OPS-1 --body "Our own notes" --internal
printf 'paper jam at 09:14\n' >"$work/printer.log"
$A issue attach OPS-1 "$work/printer.log"

step "globex creates an issue with a comment and an attachment"
sup=$($B issue create --project SUP --type Task --summary "VPN drops every hour")
$B issue comment "$sup" --body "Since Monday"
printf 'vpn: timeout\n' >"$work/vpn.txt"
$B issue attach "$sup" "$work/vpn.txt"

step "on globex: acme's issue arrived (Bug is missing on SUP -> Story; every comment public)"
wait_for "Printer on fire" $B issue list
twin=$($B issue list | grep "Printer on fire" | cut -f1)
wait_for printer.log $B issue show "$twin"
wait_for "Our own notes" $B issue show "$twin"
$B issue show "$twin"

step "on acme: globex's issue arrived"
wait_for "VPN drops" $A issue list
back=$($A issue list | grep "VPN drops" | cut -f1)
wait_for vpn.txt $A issue show "$back"
$A issue show "$back"

step "an edit on globex flows back to acme"
$B issue edit "$twin" --summary "Printer on fire (technician sent)"
wait_for "technician sent" $A issue show OPS-1
$A issue show OPS-1 | head -n 1
$B status

step "done: both nodes stop now"
