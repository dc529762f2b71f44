// bt-proxy as a gateway: several workers, no hidden ceiling on upstream transfers
// (hundreds in flight at once over HTTP/1.1), --max-upstream-connections answered with
// a 503 JSON error and an aborted span instead of a queue, and HTTP/2 to a TLS upstream
// (a local nginx with `http2` and a self-signed certificate through --ca-bundle): a
// thousand concurrent streams share a few TLS connections.
//
// No timing is asserted: requests are held by the upstream until the expected number
// is in flight at once (a ceiling would keep that number from ever being reached, and
// the bounded wait then fails the test).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { finish, request, sleep, startProxy, stopProxy, test, watchdog } from '../support/proxy_harness.mjs';

const dog = watchdog(420000, 'proxy_gateway test');
const tmp = fs.mkdtempSync(path.join(process.env.BT_TEST_TMPDIR || os.tmpdir(), 'gateway-'));
fs.chmodSync(tmp, 0o755);

// ---------------------------------------------------------------- the upstream
// /v1/gather?n=N: held until N such requests are in flight together, then all answered.
// /v1/messages with x-hold: held until release(); else a message.
let gathered = [];
let held = [];
let maxInFlight = 0;
let inFlight = 0;
const upstream = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  res.on('close', () => { inFlight--; });
  req.resume();
  req.on('end', () => {
    if (u.pathname === '/v1/gather') {
      const n = Number(u.searchParams.get('n'));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: ping\ndata: {}\n\n'); // the stream is open: headers and a first event
      gathered.push(res);
      if (gathered.length >= n) {
        const all = gathered;
        gathered = [];
        for (const r of all) r.end('event: done\ndata: {}\n\n');
      }
      return;
    }
    if (req.headers['x-hold']) {
      held.push(res);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-test', content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', usage: { input_tokens: 3, output_tokens: 1 } }));
  });
});
upstream.maxConnections = 5000;
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const UP = `http://127.0.0.1:${upstream.address().port}`;

function releaseHeld() {
  for (const r of held) {
    r.writeHead(200, { 'content-type': 'application/json' });
    r.end(JSON.stringify({ id: 'msg_h', type: 'message', role: 'assistant', model: 'claude-test', content: [], stop_reason: 'end_turn', usage: { input_tokens: 1, output_tokens: 1 } }));
  }
  held = [];
}

async function until(cond, what, ms = 60000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const metrics = async (port) => JSON.parse((await request(port, { path: '/metrics', headers: { accept: 'application/json' } })).body);
// The Prometheus text format: { name: value } of the samples without labels.
async function prometheus(port) {
  const r = await request(port, { path: '/metrics' });
  assert.equal(r.status, 200);
  const text = r.body.toString();
  const samples = {};
  for (const line of text.split('\n')) {
    const m = line.match(/^([a-z0-9_]+) (\S+)$/);
    if (m) samples[m[1]] = Number(m[2]);
  }
  return { text, samples };
}
const message = (port, headers = {}) => request(port, {
  method: 'POST', path: '/v1/messages', headers: { 'content-type': 'application/json', 'x-api-key': 'k', ...headers },
  body: '{"model":"claude-test","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}',
});

// N concurrent requests through `port`, each with its own connection.
function concurrent(port, n, p) {
  return Promise.all(Array.from({ length: n }, () => request(port, { path: p })));
}

// ---------------------------------------------------------------- tests

await test('three workers serve one port: /metrics counts them, requests on many connections all succeed', async () => {
  const spans = path.join(tmp, 'workers.jsonl');
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--workers', '3', '--spans-jsonl', spans]);
  try {
    const rs = await Promise.all(Array.from({ length: 60 }, () => message(tp.port)));
    for (const r of rs) assert.equal(r.status, 200);
    // /metrics sums the workers, the others as of the end of their last loop turn
    let m;
    await until(async () => (m = await metrics(tp.port)).requests >= 60, 'the 60 requests in /metrics');
    assert.equal(m.workers, 3);
    assert.equal(m.upstream.http2, false);
  } finally {
    await stopProxy(tp);
  }
  const lines = fs.readFileSync(spans, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.filter((s) => s.name === 'anthropic.messages.create').length, 60, 'one span per call, none lost');
});

await test('several workers answer /readyz and Prometheus /metrics for the whole process', async () => {
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--workers', '3', '--drain-delay', '13']);
  try {
    const rs = await Promise.all(Array.from({ length: 60 }, () => message(tp.port)));
    for (const r of rs) assert.equal(r.status, 200);
    // Every connection is new, so SO_REUSEPORT spreads them over the workers; each one's
    // answer must hold the sums over all three.
    for (let i = 0; i < 9; i++) {
      const { text, samples } = await prometheus(tp.port);
      assert.equal(samples.bt_proxy_workers, 3);
      assert.ok(samples.bt_proxy_requests_total >= 60 + i, `requests ${samples.bt_proxy_requests_total}`);
      assert.ok(samples.bt_proxy_request_duration_seconds_count >= 60, text);
      assert.ok(samples.bt_proxy_upstream_connections_opened_total >= 1, text);
      for (const name of ['bt_proxy_upstream_connections', 'bt_proxy_upstream_over_limit_requests_total',
        'bt_proxy_upstream_http2', 'bt_proxy_trace_backlog_bytes', 'bt_proxy_spans_incomplete_total']) {
        assert.ok(name in samples, `missing ${name}`);
        assert.match(text, new RegExp(`# HELP ${name} .+\n# TYPE ${name} (gauge|counter)\n`));
      }
      assert.equal(samples.bt_proxy_ready, 1);
    }
    tp.kill('SIGTERM'); // the drain: every worker says 503 on /readyz and still serves
    await until(() => tp.stderrText.includes('draining'), 'the drain to start');
    for (let i = 0; i < 30; i++) {
      const r = await request(tp.port, { path: '/readyz' });
      assert.equal(r.status, 503, `readyz on connection ${i}`);
      assert.equal(JSON.parse(r.body).status, 'draining');
    }
    assert.equal((await message(tp.port)).status, 200, 'still serving during the drain delay');
    assert.equal((await prometheus(tp.port)).samples.bt_proxy_ready, 0);
  } finally {
    await stopProxy(tp); // a second signal skips the rest of the delay
  }
});

await test('no ceiling: 300 upstream transfers in flight at once over HTTP/1.1', async () => {
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--workers', '2']);
  try {
    maxInFlight = 0;
    const rs = await concurrent(tp.port, 300, '/v1/gather?n=300');
    for (const r of rs) {
      assert.equal(r.status, 200);
      assert.match(r.body.toString(), /event: done/);
    }
    assert.ok(maxInFlight >= 300, `the upstream saw ${maxInFlight} at once`);
    const m = await metrics(tp.port);
    assert.equal(m.upstream.over_limit, 0);
    assert.ok(m.upstream.connections_opened >= 300, JSON.stringify(m.upstream));
  } finally {
    await stopProxy(tp);
  }
});

await test('--max-upstream-connections: past it a 503 JSON error at once, an aborted span, and service after', async () => {
  const spans = path.join(tmp, 'limit.jsonl');
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--workers', '2', '--max-upstream-connections', '2', '--spans-jsonl', spans]);
  try {
    const first = [message(tp.port, { 'x-hold': '1' }), message(tp.port, { 'x-hold': '1' })];
    await until(() => held.length === 2, 'two requests held upstream');
    const r = await message(tp.port);
    assert.equal(r.status, 503);
    const err = JSON.parse(r.body);
    assert.equal(err.type, 'error');
    assert.equal(err.error.type, 'overloaded_error');
    assert.match(err.error.message, /--max-upstream-connections/);
    const m = await metrics(tp.port);
    assert.equal(m.upstream.over_limit, 1);
    assert.equal(m.upstream.max_connections, 2);
    assert.equal(m.requests_active, 2);
    releaseHeld();
    for (const f of await Promise.all(first)) assert.equal(f.status, 200);
    const after = await message(tp.port);
    assert.equal(after.status, 200, 'the slots are free again');
  } finally {
    releaseHeld();
    await stopProxy(tp);
  }
  const lines = fs.readFileSync(spans, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const refused = lines.filter((s) => s.status && /upstream connection limit/.test(s.status.message || ''));
  assert.equal(refused.length, 1, 'the refused call has its span, marked as the proxy refusing it');
  assert.match(refused[0].status.message, /^aborted: /);
  assert.equal(lines.length, 4);
});

await test('tracing never holds traffic back: past --trace-backlog a call passes intact, its span marked and counted', async () => {
  const spans = path.join(tmp, 'backlog.jsonl');
  // 0 MiB: no copy may wait for the tracing thread, so every call's bytes are refused.
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--trace-backlog', '0', '--spans-jsonl', spans]);
  try {
    const r = await message(tp.port);
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).id, 'msg_1', 'the response passes whole');
    const m = await metrics(tp.port);
    assert.equal(m.tracing.incomplete, 1);
    assert.equal(m.tracing.backlog_limit, 0);
  } finally {
    await stopProxy(tp);
  }
  const lines = fs.readFileSync(spans, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 1, 'the span is there, not dropped');
  const md = JSON.parse(lines[0].attributes.find((a) => a.key === 'braintrust.metadata').value.stringValue);
  assert.equal(md.truncated, true);
  assert.match(md.decode_error, /tracing fell behind/);
});

await test('tracing beside the loop keeps span times: start and end are when the traffic happened', async () => {
  const spans = path.join(tmp, 'times.jsonl');
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--spans-jsonl', spans]);
  const before = BigInt(Date.now()) * 1000000n;
  let after;
  try {
    assert.equal((await message(tp.port)).status, 200);
    after = BigInt(Date.now()) * 1000000n;
  } finally {
    await stopProxy(tp);
  }
  const [span] = fs.readFileSync(spans, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  // server.address / server.port name the upstream, not the proxy the client connected to
  const attr = (k) => span.attributes.find((a) => a.key === k)?.value;
  assert.equal(attr('server.address')?.stringValue, '127.0.0.1');
  assert.equal(Number(attr('server.port')?.intValue), upstream.address().port);
  assert.notEqual(upstream.address().port, tp.port);
  const start = BigInt(span.startTimeUnixNano);
  const end = BigInt(span.endTimeUnixNano);
  assert.ok(start >= before - 1000000000n && end <= after + 1000000000n && start <= end, `${before} ${start} ${end} ${after}`);
});

// ------------------------------------------------ HTTP/2 over TLS through local nginx

function haveNginx() {
  for (const p of ['/usr/sbin/nginx', '/usr/bin/nginx']) if (fs.existsSync(p)) return p;
  return null;
}

async function startTlsNginx() {
  const dir = path.join(tmp, 'nginx');
  fs.mkdirSync(dir, { mode: 0o755 });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')],
  { stdio: 'ignore' });
  const port = await new Promise((resolve) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  log_format conn '$connection $server_protocol $status';
  access_log ${dir}/access.log conn;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${dir}/cert.pem;
    ssl_certificate_key ${dir}/key.pem;
    http2_max_concurrent_streams 128;
    location / {
      proxy_pass ${UP};
      proxy_http_version 1.1;
      proxy_buffering off;
    }
  }
}
`);
  // As root (CI), nginx runs as an unprivileged user, as the other tests' nginx does.
  let cmd = haveNginx();
  let args = ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')];
  if (process.getuid && process.getuid() === 0) {
    execFileSync('chown', ['-R', 'nobody:', dir]);
    args = [`--reuid=nobody`, `--regid=${execFileSync('id', ['-g', 'nobody']).toString().trim()}`, '--clear-groups', '--', cmd, ...args];
    cmd = 'setpriv';
  }
  const child = spawn(cmd, args, { stdio: 'ignore' });
  const exited = new Promise((r) => child.on('exit', r));
  process.on('exit', () => { try { child.kill('SIGKILL'); } catch { /* gone */ } });
  const up = await (async () => {
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise((r) => {
        const s = net.connect(port, '127.0.0.1');
        s.on('connect', () => { s.destroy(); r(true); });
        s.on('error', () => r(false));
      });
      if (ok) return true;
      await sleep(100);
    }
    return false;
  })();
  assert.ok(up, 'nginx did not start: ' + (fs.existsSync(path.join(dir, 'error.log')) ? fs.readFileSync(path.join(dir, 'error.log'), 'utf8') : ''));
  return {
    url: `https://127.0.0.1:${port}`,
    ca: path.join(dir, 'cert.pem'),
    log: path.join(dir, 'access.log'),
    stop: async () => { child.kill('SIGQUIT'); await exited; },
  };
}


if (!haveNginx()) {
  console.log('ok - HTTP/2 to a TLS upstream # SKIP nginx is not installed (scripts/install-deps installs it)');
} else {
  await test('HTTP/2 upstream over TLS: a thousand concurrent streams share a few connections', async () => {
    const ng = await startTlsNginx();
    const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', ng.url, '--ca-bundle', ng.ca, '--workers', '2']);
    try {
      // One call first, so that every later transfer knows the upstream multiplexes.
      const warm = await concurrent(tp.port, 1, '/v1/gather?n=1');
      assert.equal(warm[0].status, 200);
      const rs = await concurrent(tp.port, 1000, '/v1/gather?n=1000');
      for (const r of rs) {
        assert.equal(r.status, 200);
        assert.match(r.body.toString(), /event: done/);
      }
      const m = await metrics(tp.port);
      assert.equal(m.upstream.http2, true);
      console.log(`  (${m.upstream.connections_opened} upstream connections for 1001 streams)`);
      // 1000 streams at up to 100 per connection, on two workers: about ten.
      assert.ok(m.upstream.connections_opened <= 16, JSON.stringify(m.upstream));
    } finally {
      await stopProxy(tp);
      await ng.stop();
    }
    const log = fs.readFileSync(ng.log, 'utf8').trim().split('\n');
    assert.equal(log.length, 1001);
    assert.ok(log.every((l) => l.endsWith(' HTTP/2.0 200')), log.find((l) => !l.endsWith(' HTTP/2.0 200')));
    const conns = new Set(log.map((l) => l.split(' ')[0]));
    assert.ok(conns.size <= 16, `${conns.size} TLS connections seen by nginx`);
  });
}

clearTimeout(dog);
upstream.close();
fs.rmSync(tmp, { recursive: true, force: true });
finish('gateway tests');
