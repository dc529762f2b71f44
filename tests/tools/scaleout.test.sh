#!/usr/bin/env bash
# The scale-out deployment, end to end: a throwaway PostgreSQL cluster for batch
# correlation, fake-anthropic upstream, two bt-proxy replicas sharing it, and nginx as
# the load balancer in front (services.sh: every server on a free loopback port, run
# unprivileged, always stopped). The official SDK runs the batch flow through nginx,
# which sends the create to replica A and the results to replica B (the case a load
# balancer makes common); B's batch trace must carry the inputs A saw. The same results
# read again through A, and through both replicas at the same time, give the same
# trace: same ids, same contents.
set -u
. "$BT_SOURCE_DIR/tests/support/services.sh"
BUILD="$BT_BUILD_DIR"
TMP="${BT_TEST_TMPDIR:-/tmp}/scaleout.$$"
mkdir -p "$TMP"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    bt_services_stop
    rm -rf "$TMP"
}
trap cleanup EXIT

FAILS=0
PASSES=0
ok() { PASSES=$((PASSES + 1)); echo "ok - $1"; }
fail() { FAILS=$((FAILS + 1)); echo "not ok - $1"; }
check() { # check NAME COMMAND...
    local name="$1"; shift
    if "$@"; then ok "$name"; else fail "$name"; fi
}
die() { echo "not ok - $1"; exit 1; }

# start NAME PROGRAM ARGS... : a server printing "listening on URL"; sets PORT_<NAME>, PID_<NAME>.
start() {
    local name="$1" bin="$2"; shift 2
    "$BUILD/$bin" --listen 127.0.0.1:0 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    local pid=$! url=
    PIDS+=("$pid")
    for _ in $(seq 1 100); do
        url=$(sed -n 's/^listening on //p' "$TMP/$name.out")
        [ -n "$url" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$url" ] || die "$name did not start: $(cat "$TMP/$name.err")"
    printf -v "PORT_$name" '%s' "${url##*:}"
    printf -v "PID_$name" '%s' "$pid"
}

# stop PID : SIGTERM (spans are flushed) and expect a clean exit.
stop() {
    kill -TERM "$1"
    local rc=0
    wait "$1" || rc=$?
    return $rc
}

bt_pg_start || die "PostgreSQL did not start"
start fake fake-anthropic --batch-polls 2 --pace-ms 1
# Spans go to each replica's JSONL file only.
export OTEL_EXPORTER_OTLP_ENDPOINT= OTEL_EXPORTER_OTLP_TRACES_ENDPOINT= BRAINTRUST_API_KEY= OTEL_BSP_SCHEDULE_DELAY=100
# nginx first, on the replicas' ports picked now: the replicas are told the public URL
# (nginx's), which batch objects' results_url then point at.
PA=$(bt_free_port)
PB=$(bt_free_port)
cat >"$TMP/site.conf" <<EOF
upstream replicas { server 127.0.0.1:$PA; server 127.0.0.1:$PB; }
upstream replica_a { server 127.0.0.1:$PA; }
upstream replica_b { server 127.0.0.1:$PB; }
# Batch creates on A, batch results on B, everything else round robin.
map "\$request_method \$uri" \$replica {
    "~^POST /v1/messages/batches\$"          replica_a;
    "~^GET /v1/messages/batches/[^/]+/results\$" replica_b;
    default                                  replicas;
}
server {
    listen @LISTEN@;
    location / {
        proxy_pass http://\$replica;
        proxy_http_version 1.1;
        proxy_set_header Host \$http_host;
        proxy_set_header Connection "";
        proxy_buffering off;
        proxy_request_buffering off;
        add_header X-Replica \$upstream_addr always;
    }
}
EOF
bt_nginx_start "$TMP/site.conf" || die "nginx did not start"
LB="http://127.0.0.1:$BT_NGINX_PORT"

# A by flag, B by environment: both ways of naming the store.
# Lookups may wait 10 s (default 200 ms): this checks joined inputs on a machine that
# may be busy with sanitizers and other tests, not the proxy's speed.
# A drains for 5 s after SIGTERM (/readyz at 503, still serving).
start A bt-proxy --upstream "http://127.0.0.1:$PORT_fake" --spans-jsonl "$TMP/A.jsonl" --correlation "$BT_PG_URL" \
    --correlation-wait-ms 10000 --drain-delay 5 --listen "127.0.0.1:$PA" --public-url "$LB"
BT_CORRELATION_URL="$BT_PG_URL" start B bt-proxy --upstream "http://127.0.0.1:$PORT_fake" \
    --spans-jsonl "$TMP/B.jsonl" --correlation-wait-ms 10000 --listen "127.0.0.1:$PB" --public-url "$LB"

check "both replicas use the shared store" grep -q "batch correlation in PostgreSQL: connected" "$TMP/A.err" "$TMP/B.err"

flow=$(cd "$BT_SOURCE_DIR/tests/node" && node "$BT_SOURCE_DIR/tests/support/sdk-batch-flow.mjs" "$LB" 2>"$TMP/flow.err") ||
    die "the SDK batch flow failed: $(cat "$TMP/flow.err")"
BATCH=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$flow")
check "the SDK read every result through nginx" python3 -c '
import json, sys
f = json.loads(sys.argv[1])
assert sorted(f["results"]) == ["alpha", "beta", "errored-gamma"], f
assert f["results_url"].startswith(sys.argv[2] + "/"), f' "$flow" "$LB"
check "the create went through A only" bash -c "grep -q '\"POST /v1/messages/batches\" 200' '$TMP/A.err' &&
    ! grep -q '\"POST /v1/messages/batches\"' '$TMP/B.err'"
check "the results went through B only" bash -c "grep -q 'GET /v1/messages/batches/$BATCH/results' '$TMP/B.err' &&
    ! grep -q 'GET /v1/messages/batches/$BATCH/results' '$TMP/A.err'"

# The same results again: through A alone, then through both at the same time. Under
# the load balancer's name, as every client request arrives.
read_results() { curl -s -o /dev/null -w '%{http_code}' -H 'x-api-key: sk-ant-api03-CANARY-scaleout-0000000000' \
    -H 'anthropic-version: 2023-06-01' -H "Host: 127.0.0.1:$BT_NGINX_PORT" \
    "http://127.0.0.1:$1/v1/messages/batches/$BATCH/results"; }
check "A reads the same results" test "$(read_results "$PORT_A")" = 200
read_results "$PORT_A" >"$TMP/concurrent-a" & ra=$!
read_results "$PORT_B" >"$TMP/concurrent-b" & rb=$!
wait "$ra" "$rb"
check "A and B read them at the same time" test "$(cat "$TMP/concurrent-a" "$TMP/concurrent-b")" = 200200

# Operations conventions, on replica A.
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "/healthz and /readyz answer 200" test "$(status "http://127.0.0.1:$PORT_A/healthz")$(status "http://127.0.0.1:$PORT_A/readyz")" = 200200
curl -s -D "$TMP/metrics.head" -o "$TMP/metrics.txt" "http://127.0.0.1:$PORT_A/metrics"
check "/metrics is Prometheus text by default" grep -qi '^content-type: text/plain; version=0.0.4' "$TMP/metrics.head"
# Parsed by the Prometheus project's own Python client (Debian's python3-prometheus-client).
check "/metrics parses as the exposition format, with what operators need" /usr/bin/python3 - "$TMP/metrics.txt" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
families = {f.name: f for f in text_string_to_metric_families(text)}
for line in text.splitlines():
    if line and not line.startswith("#"):
        name = line.split("{")[0].split(" ")[0]
        base = name
        for suffix in ("_bucket", "_sum", "_count", "_total"):
            if name.endswith(suffix):
                base = name[: -len(suffix)]
        assert f"# HELP {base} " in text or f"# HELP {name} " in text, f"no HELP for {name}"
        assert f"# TYPE {base} " in text or f"# TYPE {name} " in text, f"no TYPE for {name}"
want = {"bt_proxy_requests": "counter", "bt_proxy_requests_active": "gauge", "bt_proxy_active_streams": "gauge",
        "bt_proxy_upstream_errors": "counter", "bt_proxy_spans_exported": "counter",
        "bt_proxy_spans_dropped": "counter", "bt_proxy_request_duration_seconds": "histogram",
        "bt_proxy_correlation_store_errors": "counter", "bt_proxy_correlation_store_up": "gauge",
        "bt_proxy_ready": "gauge"}
for name, kind in want.items():
    assert name in families, f"missing {name}"
    assert families[name].type == kind, (name, families[name].type)
samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
h = [s for s in families["bt_proxy_request_duration_seconds"].samples if s.name.endswith("_bucket")]
assert [s.value for s in h] == sorted(s.value for s in h), "buckets are cumulative"
count = samples[("bt_proxy_request_duration_seconds_count", ())]
assert h[-1].labels["le"] == "+Inf" and h[-1].value == count and count >= 3, (h[-1], count)
assert samples[("bt_proxy_correlation_store_up", (("backend", "postgresql"),))] == 1
assert samples[("bt_proxy_correlation_lookups_total", ())] >= 3
assert samples[("bt_proxy_ready", ())] == 1
EOF
check "/metrics with Accept: application/json is the JSON document" bash -c "curl -s -H 'Accept: application/json' \
    'http://127.0.0.1:$PORT_A/metrics' | python3 -c 'import json,sys; m=json.load(sys.stdin); assert m[\"correlation\"][\"backend\"]==\"postgresql\" and m[\"correlation\"][\"available\"] and m[\"ready\"], m'"

# Draining: from SIGTERM on /readyz says 503 while A still serves for --drain-delay,
# then A stops accepting and exits on its own.
kill -TERM "$PID_A"
for _ in $(seq 1 50); do grep -q "draining" "$TMP/A.err" && break; sleep 0.1; done
check "/readyz answers 503 as soon as the drain begins" test "$(status "http://127.0.0.1:$PORT_A/readyz")" = 503
check "/healthz still answers 200 while draining" test "$(status "http://127.0.0.1:$PORT_A/healthz")" = 200
check "a draining replica still forwards" test "$(status -H 'x-api-key: sk-ant-api03-CANARY-scaleout-0000000000' \
    -H 'anthropic-version: 2023-06-01' "http://127.0.0.1:$PORT_A/v1/messages/batches/$BATCH")" = 200
check "replica A exits cleanly after the drain" wait "$PID_A"
check "replica B stops cleanly" stop "$PID_B"

# The batch trace from each replica's spans: B read the results twice (the SDK through
# nginx, then concurrently with A), A twice (alone, then concurrently). Every reading
# must give the same spans.
check "one batch trace, inputs joined across replicas, same ids and contents" python3 - "$TMP/A.jsonl" "$TMP/B.jsonl" "$BATCH" <<'EOF'
import hashlib, json, sys
a_path, b_path, batch = sys.argv[1:4]
trace = hashlib.sha256(b"anthropic:batch:trace\0" + batch.encode()).hexdigest()[:32]

def batch_trace(path):
    """The readings of the batch trace in one replica's spans: each reading is the set
    of spans (without the resource) up to and including an anthropic.batch span."""
    readings, current = [], []
    for line in open(path):
        s = json.loads(line)
        if s["traceId"] != trace:
            continue
        s.pop("resource", None)
        current.append(json.dumps(s, sort_keys=True))
        if s["name"] == "anthropic.batch":
            readings.append(sorted(current))
            current = []
    return readings

def attr(span, key):
    for a in span["attributes"]:
        if a["key"] == key:
            v = a["value"]
            return v.get("stringValue", v)
    return None

a, b = batch_trace(a_path), batch_trace(b_path)
assert len(b) == 2, f"B traced {len(b)} readings of the results"
assert len(a) == 2, f"A traced {len(a)} readings of the results"
first = b[0]
for reading in a + b:
    assert reading == first, "a reading differs from the first"
spans = [json.loads(s) for s in first]
children = [s for s in spans if s["name"] == "anthropic.messages.create"]
assert len(children) == 3, len(children)
for c in children:
    md = json.loads(attr(c, "braintrust.metadata"))
    assert "input_unavailable" not in md, md
    inp = attr(c, "braintrust.input_json")
    assert inp and f"Question {md['custom_id']} for the replicas" in inp, inp
    assert c["parentSpanId"] == [s for s in spans if s["name"] == "anthropic.batch"][0]["spanId"]
root = [s for s in spans if s["name"] == "anthropic.batch"][0]
md = json.loads(attr(root, "braintrust.metadata"))
assert md["processing_status"] == "ended" and md["unknown_ids"] == 0, md
EOF
# The example configuration shipped in contrib/ is one nginx accepts as it is.
contrib_ok() {
    local d; d=$(mktemp -d)
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/key.pem" -out "$d/cert.pem" -days 1 -subj /CN=lb \
        >/dev/null 2>&1 || return 1
    sed -e "s|/etc/ssl/certs/anthropic-proxy.pem|$d/cert.pem|; s|/etc/ssl/private/anthropic-proxy.key|$d/key.pem|" \
        "$BT_SOURCE_DIR/contrib/nginx/bt-proxy.conf" >"$d/site.conf"
    printf 'pid %s/nginx.pid;\nevents {}\nhttp { include %s/site.conf; }\n' "$d" "$d" >"$d/nginx.conf"
    local rc=0
    "$(command -v nginx || echo /usr/sbin/nginx)" -t -q -p "$d" -c "$d/nginx.conf" -e "$d/error.log" || rc=1
    rm -rf "$d"
    return $rc
}
check "contrib/nginx/bt-proxy.conf passes nginx -t" contrib_ok
check "no secret in any span or log" bash -c "! grep -rq 'CANARY-scaleout' '$TMP'/*.jsonl '$TMP'/*.err"

echo "$PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
