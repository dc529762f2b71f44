#!/usr/bin/env bash
# bt-spans on a store produced here: traffic through bt-proxy --store to fake-anthropic
# (a message, a tool stream, an API error, a batch from create to results), plus a batch
# imported from files; then list/show/totals (text and --json), send to a loopback OTLP
# receiver, and clear errors for missing, corrupt and foreign files.
set -euo pipefail

B=${BT_BUILD_DIR:?}
SRC=${BT_SOURCE_DIR:?}
mkdir -p "${BT_TEST_TMPDIR:?}"
W=$(mktemp -d "$BT_TEST_TMPDIR/bt_spans.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n "${KEEP_W:-}" ]] || rm -rf "$W"
}
trap cleanup EXIT  # KEEP_W=1 keeps the work directory for inspection
unset BRAINTRUST_API_KEY OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_TRACES_ENDPOINT BT_STORE_PATH

fail() { echo "not ok - $*" >&2; exit 1; }
ok() { echo "ok - $*"; }
# json FILE EXPR: evaluates a JS expression over the parsed file (as `j`), prints it.
json() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(eval(process.argv[2]));' "$1" "$2"; }

# Starts a server and sets URL from its "listening on http://127.0.0.1:PORT" line.
start() {
  local name=$1; shift
  "$@" >"$W/$name.out" 2>"$W/$name.log" &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 150); do
    URL=$(grep -ho 'listening on http://127\.0\.0\.1:[0-9]*' "$W/$name.out" "$W/$name.log" 2>/dev/null | head -1 | sed 's/^listening on //') || true
    [[ -n "$URL" ]] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$W/$name.log" >&2
  fail "$name did not start"
}

STORE="$W/spans.db"
KEY=sk-ant-bt-spans-test-key
H=(-H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json')
start fake "$B/fake-anthropic" --listen 127.0.0.1:0 --pace-ms 1 --batch-polls 1
FAKE=$URL
start proxy "$B/bt-proxy" --listen 127.0.0.1:0 --upstream "$FAKE" --store "$STORE"
PROXY=$URL
PROXY_PID=${PIDS[-1]}

post() { curl -sS --max-time 30 "${H[@]}" "$PROXY$1" -d "$2"; }
post /v1/messages '{"model":"claude-haiku-4-5","max_tokens":50,"messages":[{"role":"user","content":"Hello store"}]}' >/dev/null
post /v1/messages '{"model":"claude-haiku-4-5","max_tokens":50,"stream":true,"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],"messages":[{"role":"user","content":"Weather in Oslo?"}]}' >/dev/null
post /v1/messages '{"model":"fake-error-529","max_tokens":50,"messages":[{"role":"user","content":"overloaded"}]}' >/dev/null
post /v1/messages/count_tokens '{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"How many tokens is this?"}]}' >/dev/null
BATCH=$(post /v1/messages/batches '{"requests":[{"custom_id":"one","params":{"model":"claude-haiku-4-5","max_tokens":20,"messages":[{"role":"user","content":"First"}]}},{"custom_id":"two","params":{"model":"claude-haiku-4-5","max_tokens":20,"messages":[{"role":"user","content":"Second"}]}},{"custom_id":"errored-three","params":{"model":"claude-haiku-4-5","max_tokens":20,"messages":[{"role":"user","content":"Third"}]}}]}' \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))')
for _ in $(seq 20); do
  status=$(curl -sS --max-time 30 "${H[@]}" "$PROXY/v1/messages/batches/$BATCH" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).processing_status))')
  [[ $status == ended ]] && break
  sleep 0.2
done
[[ $status == ended ]] || fail "batch did not end"
curl -sS --max-time 30 "${H[@]}" "$PROXY/v1/messages/batches/$BATCH/results" >"$W/results.jsonl"
[[ $(wc -l <"$W/results.jsonl") -eq 3 ]] || fail "3 result lines expected"
kill -TERM "$PROXY_PID"
wait "$PROXY_PID" || fail "bt-proxy exit status $?"
ok "traffic through bt-proxy --store"

BS=("$B/bt-spans" --store "$STORE")

# list
"${BS[@]}" list >"$W/list.txt"
grep -q '^TRACE' "$W/list.txt" || fail "list header"
for n in anthropic.messages.create anthropic.messages.stream anthropic.batch anthropic.messages.batches.results; do
  grep -q "$n" "$W/list.txt" || fail "list lacks $n"
done
"${BS[@]}" list --json >"$W/list.json"
[[ $(json "$W/list.json" 'j.filter(t => t.root === "anthropic.batch").length') == 1 ]] || fail "one batch trace"
[[ $(json "$W/list.json" 'j.find(t => t.root === "anthropic.batch").spans') == 4 ]] || fail "batch trace has 4 spans"
[[ $(json "$W/list.json" 'j.filter(t => t.errors > 0).length') -ge 2 ]] || fail "the 529 and the batch have errors"
# status is the root's, as in show: the batch's root is ok, one child failed
[[ $(json "$W/list.json" 'j.find(t => t.root === "anthropic.batch").status') == ok ]] || fail "batch root status"
[[ $(json "$W/list.json" 'j.find(t => t.root === "anthropic.batch").errors') == 1 ]] || fail "batch error count"
grep 'anthropic.batch ' "$W/list.txt" | grep -q 'ok, 1 failed span$' || fail "list status of the batch: $(grep anthropic.batch "$W/list.txt")"
[[ $(json "$W/list.json" 'j.every((t, i) => i === 0 || j[i - 1].start_ns >= t.start_ns)') == true ]] || fail "newest first"
"${BS[@]}" list --limit 2 --json >"$W/list2.json"
[[ $(json "$W/list2.json" 'j.length') == 2 ]] || fail "--limit"
ok "list and list --json"

# show: the batch trace as a tree
BT=$(json "$W/list.json" 'j.find(t => t.root === "anthropic.batch").trace_id')
"${BS[@]}" show "$BT" >"$W/show.txt"
grep -q "^trace $BT" "$W/show.txt" || fail "show header"
[[ $(grep -c 'anthropic.messages.create' "$W/show.txt") == 3 ]] || fail "three children"
grep -q '└─ anthropic.messages.create' "$W/show.txt" || fail "tree drawing"
grep -q 'in:  First' "$W/show.txt" || fail "input preview"
grep -q 'ERROR' "$W/show.txt" || fail "errored child shown as error"
"${BS[@]}" show "${BT:0:12}" >"$W/show-prefix.txt"
cmp -s "$W/show.txt" "$W/show-prefix.txt" || fail "show by unique prefix"
"${BS[@]}" show --json "$BT" >"$W/show.json"
[[ $(json "$W/show.json" 'j.roots.length') == 1 ]] || fail "one root"
[[ $(json "$W/show.json" 'j.roots[0].name') == anthropic.batch ]] || fail "root name"
[[ $(json "$W/show.json" 'j.roots[0].children.map(c => c.status).sort().join(",")') == error,ok,ok ]] || fail "children status"
[[ $(json "$W/show.json" 'j.roots[0].children.every(c => c.parent_span_id === j.roots[0].span_id)') == true ]] || fail "parent ids"
ST=$(json "$W/list.json" 'j.find(t => t.root === "anthropic.messages.stream").trace_id')
"${BS[@]}" show "$ST" | grep -q 'tool_use get_weather' || fail "stream output preview shows the tool call"
ok "show and show --json"

# totals: llm spans only (the batch span's sums are not counted twice), count_tokens
# calls apart: they count tokens, they do not use them (docs/SPANS.md)
"${BS[@]}" totals --json >"$W/totals.json"
EXPECT=$(for t in $(json "$W/list.json" 'j.map(t => t.trace_id).join(" ")'); do "${BS[@]}" show --json "$t"; done |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let p=0,n=0;const walk=x=>{if(x.type==="llm"&&x.name!=="anthropic.messages.count_tokens"){p+=x.prompt_tokens||0;n++;}x.children.forEach(walk);};
  for (const doc of s.split(/\n(?=\{)/)) JSON.parse(doc).roots.forEach(walk); console.log(p+" "+n);})')
GOT="$(json "$W/totals.json" 'j.total.prompt_tokens') $(json "$W/totals.json" 'j.total.spans')"
[[ "$GOT" == "$EXPECT" ]] || fail "totals $GOT, spans say $EXPECT"
[[ $(json "$W/totals.json" 'j.count_tokens_calls') == 1 ]] || fail "count_tokens calls counted apart"
[[ $(json "$W/totals.json" 'j.total.prompt_tokens > 0 && j.total.errors >= 2') == true ]] || fail "totals content"
"${BS[@]}" totals | grep -q '^TOTAL' || fail "totals text"
ok "totals and totals --json"

# import-batch: a batch run without the proxy, from its files; twice gives the same rows
cat >"$W/batch.json" <<'J'
{"id":"msgbatch_imported_01","type":"message_batch","processing_status":"ended","request_counts":{"processing":0,"succeeded":1,"errored":1,"canceled":0,"expired":0},"created_at":"2026-01-02T03:04:05Z","ended_at":"2026-01-02T03:14:05Z","expires_at":"2026-01-03T03:04:05Z","results_url":null}
J
cat >"$W/requests.jsonl" <<'J'
{"custom_id":"alpha","params":{"model":"claude-imported-1","max_tokens":10,"messages":[{"role":"user","content":"Imported question"}]}}
{"custom_id":"beta","params":{"model":"claude-imported-1","max_tokens":10,"messages":[{"role":"user","content":"Second question"}]}}
J
cat >"$W/results-imp.jsonl" <<'J'
{"custom_id":"alpha","result":{"type":"succeeded","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-imported-1","content":[{"type":"text","text":"Imported answer"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":3}}}}
{"custom_id":"beta","result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"bad \u001b[2J\u001b]0;owned\u0007 input"}}}}
J
"${BS[@]}" import-batch --batch "$W/batch.json" --requests "$W/requests.jsonl" --results "$W/results-imp.jsonl" --json >"$W/imp.json" \
  || fail "import-batch failed"
[[ $(json "$W/imp.json" 'j.results + " " + j.succeeded + " " + j.errored') == "2 1 1" ]] || fail "import stats $(cat "$W/imp.json")"
N1=$("${BS[@]}" list --json --limit 1000 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).reduce((a,t)=>a+t.spans,0)))')
"${BS[@]}" import-batch --batch "$W/batch.json" --requests "$W/requests.jsonl" --results "$W/results-imp.jsonl" >/dev/null || fail "second import"
N2=$("${BS[@]}" list --json --limit 1000 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).reduce((a,t)=>a+t.spans,0)))')
[[ $N1 == "$N2" ]] || fail "re-import duplicated spans ($N1 -> $N2)"
"${BS[@]}" totals --json >"$W/totals2.json"
[[ $(json "$W/totals2.json" 'j.models.find(m => m.model === "claude-imported-1").prompt_tokens') == 11 ]] || fail "imported tokens"
IT=$("${BS[@]}" list --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).find(t=>t.start_ns===1767323045000000000).trace_id))')
"${BS[@]}" show "$IT" >"$W/show-imp.txt"
grep -q 'in:  Imported question' "$W/show-imp.txt" || fail "imported input re-joined"
grep -q 'ERROR: invalid_request_error: bad ?\[2J' "$W/show-imp.txt" || fail "error message shown, control characters replaced"
if grep -q $'\x1b' "$W/show-imp.txt"; then fail "terminal escape reached the output"; fi
ok "import-batch (idempotent)"

# send: every stored span to a loopback OTLP receiver, once; --all sends again
# The receiver exits when its stdin closes: hold a pipe open on fd 3 until this script ends.
mkfifo "$W/recv.hold"
node "$SRC/tests/node/otlp-receiver.mjs" --lifetime 120 >"$W/recv.out" 2>"$W/recv.log" <"$W/recv.hold" &
PIDS+=($!)
exec 3>"$W/recv.hold"
for _ in $(seq 100); do [[ -s "$W/recv.out" ]] && break; sleep 0.1; done
OTLP=$(json "$W/recv.out" 'j.otlp')
CTL=$(json "$W/recv.out" 'j.control')
TOTAL=$N2
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$OTLP OTEL_EXPORTER_OTLP_PROTOCOL=http/json "${BS[@]}" send 2>"$W/send.err" \
  || { cat "$W/send.err" >&2; fail "send"; }
grep -q "sent $TOTAL spans; 0 still unsent" "$W/send.err" || fail "send summary: $(cat "$W/send.err")"
count_received() { curl -sS --max-time 10 "http://127.0.0.1:$CTL/requests" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);const ids=new Set();let n=0,bad=0;for(const q of r){n+=q.spans.length;bad+=q.problems.length;q.spans.forEach(x=>ids.add(x.spanId));}console.log(n+" "+ids.size+" "+bad)})'; }
[[ $(count_received) == "$TOTAL $TOTAL 0" ]] || fail "receiver got $(count_received), expected $TOTAL distinct spans"
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$OTLP "${BS[@]}" send 2>"$W/send2.err" || fail "second send"
grep -q "sent 0 spans" "$W/send2.err" || fail "nothing left to send"
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$OTLP "${BS[@]}" send --all 2>/dev/null || fail "send --all"
[[ $(count_received | cut -d' ' -f1) == $((2 * TOTAL)) ]] || fail "send --all re-sends everything"
"${BS[@]}" send 2>"$W/send3.err" && fail "send without an endpoint must fail"
grep -q "nowhere to send" "$W/send3.err" || fail "send without endpoint message"
ok "send (once, then --all)"

# The API key never reached the store.
if grep -aq "$KEY" "$STORE"* ; then fail "API key found in the store"; fi
ok "no API key in the store"

# One span in full, whole inputs and outputs, candidates for an empty or ambiguous id
SID=$(json "$W/show.json" 'j.roots[0].children.find(c => c.input_preview === "First").span_id')
"${BS[@]}" span "$BT" "${SID:0:6}" >"$W/span.json" || fail "span by prefixes"
[[ $(json "$W/span.json" 'j.attributes["braintrust.input_json"][0].content') == First ]] || fail "span input expanded"
[[ $(json "$W/span.json" 'j.spanId') == "$SID" ]] || fail "span id"
"${BS[@]}" --json span "$BT" "$SID" >"$W/span-line.json" || fail "span --json"
[[ $(json "$W/span-line.json" 'j.attributes.find(a => a.key === "braintrust.input_json").value.stringValue') == '[{"role":"user","content":"First"}]' ]] \
  || fail "span --json is the stored line"
"${BS[@]}" show --full "$BT" >"$W/show-full.txt"
grep -q '"content": "First"' "$W/show-full.txt" || fail "show --full prints whole inputs"
"${BS[@]}" --json show --full "$BT" >"$W/show-full.json"
[[ $(json "$W/show-full.json" 'j.roots[0].children.find(c => c.span_id === "'"$SID"'").input[0].content') == First ]] || fail "show --json --full"
set +e
"${BS[@]}" show "" 2>"$W/e-empty"; rc_empty=$?
"${BS[@]}" show 2>"$W/e-noid"; rc_noid=$?
set -e
[[ $rc_empty == 1 && $(grep -c '^  [0-9a-f]\{32\}  ' "$W/e-empty") -ge 2 ]] || fail "show \"\" lists candidates: $(cat "$W/e-empty")"
[[ $rc_noid == 2 && $(grep -o '(' "$W/e-noid" | wc -l) == 1 ]] || fail "show without an id: one pointer to help: $(cat "$W/e-noid")"
# With 17 traces or more, two share their first hex digit.
for i in $(seq 1 17); do
  sed "s/msgbatch_imported_01/msgbatch_many_$i/" "$W/batch.json" >"$W/batch-$i.json"
  "${BS[@]}" import-batch --batch "$W/batch-$i.json" --requests "$W/requests.jsonl" --results "$W/results-imp.jsonl" >/dev/null || fail "import $i"
done
PFX=$("${BS[@]}" list --json --limit 1000 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const c={};for(const t of JSON.parse(s))c[t.trace_id[0]]=(c[t.trace_id[0]]||0)+1;console.log(Object.keys(c).find(k=>c[k]>1))})')
set +e; "${BS[@]}" show "$PFX" 2>"$W/e-amb"; rc_amb=$?; set -e
[[ $rc_amb == 1 ]] && grep -q "prefix \"$PFX\" matches several traces" "$W/e-amb" || fail "ambiguous prefix: $(cat "$W/e-amb")"
[[ $(grep -c "^  $PFX[0-9a-f]\{31\}  " "$W/e-amb") -ge 2 ]] || fail "ambiguous prefix lists candidates: $(cat "$W/e-amb")"
ok "span, show --full, candidates for empty and ambiguous ids"

# Models are cut at whole names with a count; totals never fail on sums past int64, and
# columns stay apart
# Two batches of one request each (a batch span sums its children: one child each keeps
# that sum in range), 5e18 prompt tokens apiece, models of two names.
for m in alpha beta; do
  cat >"$W/huge-$m.json" <<J
{"id":"msgbatch_huge_$m","type":"message_batch","processing_status":"ended","request_counts":{"processing":0,"succeeded":1,"errored":0,"canceled":0,"expired":0},"created_at":"2026-02-02T03:04:05Z","ended_at":"2026-02-02T03:14:05Z","expires_at":"2026-02-03T03:04:05Z","results_url":null}
J
  cat >"$W/huge-$m.jsonl" <<J
{"custom_id":"$m","result":{"type":"succeeded","message":{"id":"msg_$m","type":"message","role":"assistant","model":"claude-model-$m","content":[{"type":"text","text":"A"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":5000000000000000000,"output_tokens":3}}}}
J
  "${BS[@]}" import-batch --batch "$W/huge-$m.json" --results "$W/huge-$m.jsonl" >/dev/null 2>&1 || fail "import huge $m"
done
# One trace with both models, to see the models cell.
cat >"$W/two-models.json" <<'J'
{"id":"msgbatch_two_models","type":"message_batch","processing_status":"ended","request_counts":{"processing":0,"succeeded":2,"errored":0,"canceled":0,"expired":0},"created_at":"2026-02-03T03:04:05Z","ended_at":"2026-02-03T03:14:05Z","expires_at":"2026-02-04T03:04:05Z","results_url":null}
J
cat >"$W/two-models.jsonl" <<'J'
{"custom_id":"a","result":{"type":"succeeded","message":{"id":"msg_a","type":"message","role":"assistant","model":"claude-model-alpha","content":[{"type":"text","text":"A"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":3}}}}
{"custom_id":"b","result":{"type":"succeeded","message":{"id":"msg_b","type":"message","role":"assistant","model":"claude-model-beta","content":[{"type":"text","text":"B"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":3}}}}
J
"${BS[@]}" import-batch --batch "$W/two-models.json" --results "$W/two-models.jsonl" >/dev/null 2>&1 || fail "import two models"
"${BS[@]}" list --limit 1000 >"$W/list-huge.txt"
grep -q ' claude-model-alpha,+1 ' "$W/list-huge.txt" || fail "models cut at whole names: $(grep -i 'model-' "$W/list-huge.txt")"
"${BS[@]}" totals >"$W/totals-huge.txt" || fail "totals failed on sums past int64"
grep -q '^TOTAL .* 9223372036854775807+ ' "$W/totals-huge.txt" || fail "saturated total marked: $(cat "$W/totals-huge.txt")"
"${BS[@]}" --json totals >"$W/totals-huge.json" || fail "totals --json"
[[ $(json "$W/totals-huge.json" 'j.total.saturated.includes("prompt_tokens")') == true ]] || fail "saturated in json"
# every column separated by at least two spaces, header and rows aligned
awk 'NR==1{n=split($0,_,/  +/)} /^\(/{next} {if (split($0,_,/  +/)!=n) {print "row " NR ": " $0; exit 1}}' "$W/totals-huge.txt" \
  || fail "totals columns run together: $(cat "$W/totals-huge.txt")"
ok "list models cell, totals saturate and keep columns apart"

# Errors
set +e
"$B/bt-spans" --store "$W/missing.db" list 2>"$W/e1"; rc1=$?
printf 'this is not a database, just text\n%.0s' $(seq 200) >"$W/corrupt.db"
"$B/bt-spans" --store "$W/corrupt.db" list 2>"$W/e2"; rc2=$?
"${BS[@]}" show ffffffffffff 2>"$W/e3"; rc3=$?
"${BS[@]}" frobnicate 2>"$W/e4"; rc4=$?
"${BS[@]}" show 2>/dev/null; rc5=$?
"$B/bt-spans" --help >"$W/help"; rc6=$?
BT_STORE_PATH=$STORE "$B/bt-spans" list >/dev/null; rc7=$?
set -e
[[ $rc1 == 1 ]] && grep -q "no span store at $W/missing.db" "$W/e1" || fail "missing store ($rc1): $(cat "$W/e1")"
[[ ! -e "$W/missing.db" ]] || fail "reading must not create the store"
[[ $rc2 == 1 ]] && grep -q "cannot read span store" "$W/e2" || fail "corrupt store ($rc2): $(cat "$W/e2")"
[[ $rc3 == 1 ]] && grep -q "no trace with" "$W/e3" || fail "unknown trace ($rc3)"
[[ $rc4 == 2 && $rc5 == 2 ]] || fail "usage errors exit 2 ($rc4 $rc5)"
[[ $rc6 == 0 ]] && grep -q "import-batch" "$W/help" || fail "--help"
[[ $rc7 == 0 ]] || fail "BT_STORE_PATH"
ok "errors: missing, corrupt, unknown trace, usage"
