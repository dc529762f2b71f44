#!/usr/bin/env bash
# `make demo` end to end: scripts/demo prints the trace trees of the C example's, the
# official SDK's and Claude Code's traffic, and leaves nothing running (its servers' ports are closed and
# no process of its own remains).
set -euo pipefail

B=${BT_BUILD_DIR:?}
SRC=${BT_SOURCE_DIR:?}
mkdir -p "${BT_TEST_TMPDIR:?}"
W=$(mktemp -d "$BT_TEST_TMPDIR/demo.XXXXXX")
trap 'rm -rf "$W"' EXIT
fail() { echo "not ok - $*" >&2; exit 1; }

# The demo's temporary directory goes under $W, so its processes can be recognised; its
# per-user locations point into $W too, to see that it writes nothing there.
mkdir -p "$W/home" "$W/state"
TMPDIR=$W HOME=$W/home XDG_STATE_HOME=$W/state timeout 300 "$SRC/scripts/demo" "$B" >"$W/out.txt" 2>"$W/err.txt" \
  || { cat "$W/out.txt" "$W/err.txt" >&2; fail "scripts/demo exited with $?"; }
OUT="$W/out.txt"
cat "$OUT"

# Sample traffic ran.
grep -q '^  HTTP 200; span anthropic.messages.create' "$OUT" || fail "C example through the proxy"
! grep -q 'No error' "$OUT" || fail "the demo says 'No error' for a success"
grep -q 'message: ' "$OUT" || fail "SDK message"
grep -q 'stream: .*tool call get_weather' "$OUT" || fail "SDK stream with a tool call"
grep -q 'batch: ended: 2 succeeded, 1 errored' "$OUT" || fail "SDK batch to results"
# Trace trees were printed: the batch trace with one child per custom_id.
grep -q '^trace [0-9a-f]\{32\} ' "$OUT" || fail "no trace printed"
[[ $(grep -c '^== bt-spans show' <(sed 's/\x1b\[[0-9;]*m//g' "$OUT")) -ge 5 ]] || fail "a show per trace"
grep -q '^anthropic.batch ' "$OUT" || fail "batch trace root"
[[ $(grep -c '[├└]─ anthropic.messages.create' "$OUT") == 3 ]] || fail "three batch children"
grep -q '^anthropic.messages.stream .*tokens' "$OUT" || fail "stream span with tokens"
grep -q 'out: .*\[tool_use get_weather\]' "$OUT" || fail "tool call in the output preview"
grep -q '^TOTAL ' "$OUT" || fail "totals"
# Claude Code's session (where its binary exists for the platform): one agent trace.
if grep -q '^  claude: success in 3 turns' "$OUT"; then
  grep -q '^agent.session  \[task\]' "$OUT" || fail "Claude Code session root"
  [[ $(grep -c '[├└]─ anthropic.messages.stream' "$OUT") -ge 3 ]] || fail "Claude Code turns under the root"
  grep -q '[├└]─ Bash  \[tool\]' "$OUT" || fail "Claude Code tool round trip"
elif ! grep -q 'skipped: no Claude Code binary' "$OUT"; then
  fail "Claude Code step"
fi
grep -q 'Done; nothing left running' "$OUT" || fail "demo did not finish"
grep -q "bt-spans --store $B/demo-spans.db serve\$" "$OUT" || fail "the demo ends with the viewer's command"

# Nothing left running: the servers' ports refuse connections, and no process started
# by the demo remains.
for url in $(sed 's/\x1b\[[0-9;]*m//g' "$OUT" | grep -o '\(fake-anthropic\|bt-proxy\) on http://127\.0\.0\.1:[0-9]*' | awk '{print $3}'); do
  if curl -s --max-time 2 -o /dev/null "$url/healthz"; then fail "$url still answers"; fi
done
if pgrep -f "$W/bt-demo" >/dev/null; then fail "demo processes still running: $(pgrep -af "$W/bt-demo")"; fi
[[ -z "$(ls -A "$W" | grep bt-demo || true)" ]] || fail "demo left its temporary directory"
"$B/bt-spans" --store "$B/demo-spans.db" list >/dev/null || fail "the kept store is readable"
# Only its own files: nothing in the per-user span store or anywhere else in $HOME.
outside=$(find "$W/state" "$W/home" -mindepth 1)
[[ -z "$outside" ]] || fail "the demo wrote outside its own files: $outside"
echo "ok - demo printed trace trees and left nothing running"
