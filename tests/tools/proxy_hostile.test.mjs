// bt-proxy's HTTP front end against hostile clients and odd upstreams, over raw sockets:
// pipelines with the proxy's own endpoints amid proxied requests, request smuggling
// shapes (obs-fold, names with spaces, Host rules), an upstream header carrying a bare
// CR, an early upstream 413 during a large upload, log injection through the model,
// the connection limit (idlest closed first, health and metrics still answered, 503
// beyond), slow request bodies (408, nothing held), and where results_url points.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';

import {
  finish, parseResponses, raw, request, sleep, startProxy, stopProxy, test, watchdog,
} from '../support/proxy_harness.mjs';

const dog = watchdog(240000, 'proxy_hostile test');

// ---------------------------------------------------------------- the upstream
const seen = []; // every request the upstream received: {method, url, headers, bodyLen}
const events = []; // upstream-side observations: 'slowbody:start', 'slowbody:aborted', ...
let stalls = []; // responses held open until the test lets them go
const EVIL_MODEL = 'claude\nFAKE-LINE injected\u001b[31m\rX';

function batchObject(id) {
  return `{"id":"${id}","type":"message_batch","processing_status":"ended",` +
    `"results_url":"https://api.anthropic.com/v1/messages/batches/${id}/results"}`;
}

const upstream = http.createServer(async (req, res) => {
  const p = new URL(req.url, 'http://x').pathname;
  if (p === '/upload413') {
    // Answers at once, before the 100 MB body, then drops what still comes (as real
    // servers do, so that the client reads the answer instead of a reset).
    seen.push({ method: req.method, url: req.url, headers: req.headers, bodyLen: -1 });
    res.writeHead(413, { 'content-type': 'application/json' });
    res.end('{"type":"error","error":{"type":"request_too_large","message":"too big"}}');
    req.resume();
    return;
  }
  if (p === '/slowbody') {
    events.push('slowbody:start');
    req.on('aborted', () => events.push('slowbody:aborted'));
    req.on('close', () => events.push('slowbody:closed'));
    req.resume();
    return;
  }
  if (p === '/stall') {
    seen.push({ method: req.method, url: req.url, headers: req.headers, bodyLen: 0 });
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('event: ping\ndata: {}\n\n');
    stalls.push(res);
    return;
  }
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks);
  seen.push({ method: req.method, url: req.url, headers: req.headers, bodyLen: body.length });
  if (p === '/v1/messages' && req.headers['x-test'] === 'evil-response-model') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'msg_e', type: 'message', role: 'assistant', model: EVIL_MODEL, content: [], stop_reason: 'end_turn', usage: { input_tokens: 1, output_tokens: 1 } }));
  } else if (p === '/v1/messages' && req.headers['x-test'] === 'error') {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end('{"type":"error","error":{"type":"invalid_request_error","message":"no"}}');
  } else if (p === '/v1/messages') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-test', content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', usage: { input_tokens: 3, output_tokens: 1 } }));
  } else if (/^\/v1\/messages\/batches\/[^/]+$/.test(p)) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(batchObject(p.split('/').pop()));
  } else {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ url: req.url, bodyLen: body.length }));
  }
});
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const UP = `http://127.0.0.1:${upstream.address().port}`;

// An upstream that writes its response by hand: header values no HTTP library would send.
const rawUpstream = net.createServer((s) => {
  s.on('error', () => {});
  let got = '';
  s.on('data', (d) => {
    got += d.toString('latin1');
    if (!got.includes('\r\n\r\n')) return;
    s.end('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n' +
      'x-evil: a\rSet-Cookie: injected=1\r\n' +
      'x-ctl: one\u0001two\r\n' +
      'x-folded: first\r\n second\r\n' +
      'Content-Length: 2\r\nConnection: close\r\n\r\n{}');
  });
});
await new Promise((r) => rawUpstream.listen(0, '127.0.0.1', r));

const quiet = { OTEL_SDK_DISABLED: 'true' };
const proxy = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP], quiet);
const P = proxy.port;

const asJson = { accept: 'application/json' };
async function metrics(port = P) {
  return JSON.parse((await request(port, { path: '/metrics', headers: asJson })).body);
}

// ---------------------------------------------------------------- pipelining
await test('pipelining: three /healthz in one write get three answers, then the close', async () => {
  const r = await raw(P, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(2) +
    'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const rs = parseResponses(r.text);
  assert.equal(rs.length, 3, r.text);
  for (const x of rs) assert.deepEqual(JSON.parse(x.body), { status: 'ok' });
  assert.ok(r.closed, 'connection closed after the last');
});

await test('pipelining: proxied, /healthz, proxied, /metrics, proxied: five answers in order', async () => {
  const req = (n) => `GET /echo?n=${n} HTTP/1.1\r\nHost: x\r\n\r\n`;
  const r = await raw(P, req(1) + 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' + req(2) +
    'GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n' + req(3).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
  const rs = parseResponses(r.text);
  assert.equal(rs.length, 5, r.text);
  assert.equal(JSON.parse(rs[0].body).url, '/echo?n=1');
  assert.deepEqual(JSON.parse(rs[1].body), { status: 'ok' });
  assert.equal(JSON.parse(rs[2].body).url, '/echo?n=2');
  assert.equal(typeof JSON.parse(rs[3].body).requests, 'number');
  assert.equal(JSON.parse(rs[4].body).url, '/echo?n=3');
  assert.ok(r.closed);
});

await test('pipelining: a POST body and the next request arrive in one write', async () => {
  const r = await raw(P, 'POST /echo?n=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' +
    'POST /echo?n=2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
  const rs = parseResponses(r.text);
  assert.equal(rs.length, 2, r.text);
  assert.deepEqual(JSON.parse(rs[0].body), { url: '/echo?n=1', bodyLen: 5 });
  assert.deepEqual(JSON.parse(rs[1].body), { url: '/echo?n=2', bodyLen: 3 });
});

// ---------------------------------------------------------------- smuggling shapes
const shapes = {
  'obs-fold: Transfer-Encoding value on a folded line':
    'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /echo?smuggled=1 HTTP/1.1\r\nHost: x\r\n\r\n',
  'obs-fold: Content-Length value on a folded line':
    'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n 3\r\n\r\nabcGET /echo?smuggled=1 HTTP/1.1\r\nHost: x\r\n\r\n',
  'header name with a space (Content Length)': 'POST /echo HTTP/1.1\r\nHost: x\r\nContent Length: 3\r\n\r\nabc',
  'header name with a space (X Forwarded)': 'GET /echo HTTP/1.1\r\nHost: x\r\nX Forwarded: 1\r\n\r\n',
  'no Host on HTTP/1.1': 'GET /echo HTTP/1.1\r\nAccept: */*\r\n\r\n',
  'two Host headers on HTTP/1.1': 'GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
  'bare CR inside a header value': 'GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\rX-B: b\r\n\r\n',
  'bare LF line ending': 'GET /echo HTTP/1.1\nHost: x\n\n',
  'NUL in a header value': 'GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n',
  'chunked not the final coding': 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
};
for (const [name, bytes] of Object.entries(shapes)) {
  await test(`400 and close, nothing forwarded: ${name}`, async () => {
    const before = seen.length;
    const r = await raw(P, bytes);
    assert.match(r.text, /^HTTP\/1\.1 400 /, r.text);
    assert.match(r.text, /connection: close/i);
    assert.equal(JSON.parse(parseResponses(r.text)[0].body).type, 'error');
    assert.ok(r.closed, 'connection closed');
    assert.equal(seen.length, before, `reached the upstream: ${JSON.stringify(seen.slice(before))}`);
  });
}

await test('HTTP/1.0 without Host is still served', async () => {
  const r = await raw(P, 'GET /echo?v=10 HTTP/1.0\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 200 /);
  assert.equal(JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)).url, '/echo?v=10');
});

// ---------------------------------------------------------------- upstream headers
await test('an upstream header with a bare CR, a control byte or a fold cannot split a line', async () => {
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${rawUpstream.address().port}`], quiet);
  try {
    const r = await raw(tp.port, 'GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const head = r.text.slice(0, r.text.indexOf('\r\n\r\n') + 2);
    assert.match(r.text, /^HTTP\/1\.1 200 /, r.text);
    assert.ok(!/\r(?!\n)/.test(head), `bare CR reached the client: ${JSON.stringify(head)}`);
    assert.ok(!/[\u0000-\u0008\u000b-\u001f]/.test(head.replace(/\r\n/g, '')), 'control byte reached the client');
    const lines = head.split('\r\n');
    assert.ok(!lines.some((l) => /^set-cookie/i.test(l)), 'a Set-Cookie line was injected');
    assert.ok(lines.includes('x-evil: a Set-Cookie: injected=1'), head);
    assert.ok(lines.includes('x-ctl: one two'), head);
    assert.ok(lines.includes('x-folded: first second'), head);
    const viaNode = await request(tp.port, { path: '/y' });
    assert.equal(viaNode.headers['set-cookie'], undefined);
    assert.equal(viaNode.body.toString(), '{}');
  } finally {
    await stopProxy(tp);
  }
});

// ---------------------------------------------------------------- early answers
// Uploads `total` bytes to /upload413. `stopWhenAnswered`: stop writing once an answer
// arrives (curl does); else write everything first (as most HTTP libraries do).
function upload(port, total, stopWhenAnswered) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    let written = 0;
    let answered = false;
    let reset = false;
    const block = Buffer.alloc(64 * 1024, 0x61);
    const pump = () => {
      while (!(answered && stopWhenAnswered) && written < total) {
        written += block.length;
        if (!s.write(block)) return s.once('drain', pump);
      }
      if (written >= total) s.end();
    };
    s.on('connect', () => {
      s.write(`POST /upload413 HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${total}\r\n\r\n`);
      pump();
    });
    s.on('data', (d) => {
      got += d.toString('latin1');
      answered = true;
      if (stopWhenAnswered && /\r\n\r\n[^]*request_too_large[^]*\}\}/.test(got)) s.end();
    });
    s.on('error', () => { reset = true; });
    s.on('close', () => resolve({ got, written, reset }));
    setTimeout(() => s.destroy(), 30000);
  });
}

for (const stopWhenAnswered of [true, false]) {
  const how = stopWhenAnswered ? 'a client that stops on the answer' : 'a client that writes it all first';
  await test(`an upstream 413 during a 100 MB upload reaches ${how}, with no reset`, async () => {
    const total = 100 * 1024 * 1024;
    const direct = await upload(upstream.address().port, total, stopWhenAnswered);
    assert.match(direct.got, /^HTTP\/1\.1 413 /, 'the test upstream itself answers 413 early');
    const out = await upload(P, total, stopWhenAnswered);
    assert.match(out.got, /^HTTP\/1\.1 413 /, `client saw: ${JSON.stringify(out.got.slice(0, 200))} (reset: ${out.reset})`);
    assert.match(out.got, /connection: close/i);
    assert.match(out.got, /request_too_large/);
    assert.equal(out.reset, false, 'the connection was reset');
    console.log(`  (client had written ${(out.written / 1048576).toFixed(1)} MB of 100 when done)`);
  });
}

// ---------------------------------------------------------------- log injection
await test('access log: a model with newline, ESC and CR is escaped, from the response and from the request', async () => {
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--spans-jsonl', '/dev/null'], { OTEL_EXPORTER_OTLP_ENDPOINT: '', BRAINTRUST_API_KEY: '' });
  try {
    const hdrs = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'k' };
    const body = JSON.stringify({ model: 'claude\nFAKE-LINE from the request\u001b[2J\r', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal((await request(tp.port, { method: 'POST', path: '/v1/messages', headers: { ...hdrs, 'x-test': 'evil-response-model' }, body })).status, 200);
    assert.equal((await request(tp.port, { method: 'POST', path: '/v1/messages', headers: { ...hdrs, 'x-test': 'error' }, body })).status, 400);
  } finally {
    await stopProxy(tp);
  }
  const log = tp.stderrText;
  const modelLines = log.split('\n').filter((l) => l.includes(' model='));
  assert.ok(modelLines.length >= 2, log.slice(-2000));
  assert.ok(!log.includes('\u001b'), 'ESC reached the log');
  assert.ok(!log.includes('\r'), 'CR reached the log');
  assert.ok(!log.split('\n').some((l) => l.startsWith('FAKE-LINE')), 'a forged log line');
  assert.ok(modelLines.some((l) => l.includes('model=claude\\x0aFAKE-LINE injected\\x1b[31m\\x0dX')), modelLines.join('\n'));
  assert.ok(modelLines.some((l) => l.includes('model=claude\\x0aFAKE-LINE from the request\\x1b[2J\\x0d')), modelLines.join('\n'));
});

// ---------------------------------------------------------------- connection limit
function connectSilent(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.closedByServer = false;
    s.on('end', () => { s.closedByServer = true; });
    s.on('close', () => { s.closedByServer = true; });
    s.on('error', () => {});
    s.on('connect', () => resolve(s));
  });
}

async function until(cond, what, ms = 10000) {
  for (let t = 0; t < ms; t += 50) {
    if (await cond()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

await test('connection limit: the idlest connection makes room; /healthz answers', async () => {
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--max-connections', '4', '--workers', '1'], quiet);
  const socks = [];
  try {
    // Accepted in the order they connected, so the first is the idlest.
    for (let i = 0; i < 4; i++) socks.push(await connectSilent(tp.port));
    const h = await request(tp.port, { path: '/healthz' });
    assert.equal(h.status, 200);
    await until(() => socks[0].closedByServer, 'the idlest connection to close');
    assert.deepEqual(socks.slice(1).map((s) => s.closedByServer), [false, false, false], 'a less idle one was closed');
    const m = await metrics(tp.port);
    assert.ok(m.connections_evicted >= 1, JSON.stringify(m));
    assert.ok(m.connections_active <= 4 + 1, JSON.stringify(m));
  } finally {
    for (const s of socks) s.destroy();
    await stopProxy(tp);
  }
});

await test('connection limit: with every connection busy, /healthz, /readyz and /metrics answer, others get 503 JSON', async () => {
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--max-connections', '4', '--workers', '1'], quiet);
  const busy = [];
  try {
    const before = seen.filter((s) => s.url === '/stall').length;
    for (let i = 0; i < 4; i++) {
      busy.push(raw(tp.port, 'GET /stall HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { ms: 20000 }));
    }
    await until(() => seen.filter((s) => s.url === '/stall').length >= before + 4, 'four streams in flight');
    const h = await request(tp.port, { path: '/healthz' });
    assert.equal(h.status, 200);
    const m = await request(tp.port, { path: '/metrics', headers: asJson });
    assert.equal(m.status, 200);
    assert.equal(JSON.parse(m.body).requests_active, 4);
    const ready = await request(tp.port, { path: '/readyz' });
    assert.equal(ready.status, 200);
    const prom = await request(tp.port, { path: '/metrics' });
    assert.match(prom.body.toString(), /^bt_proxy_requests_active 4$/m);
    const r = await request(tp.port, { method: 'POST', path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '1');
    assert.equal(r.headers.connection, 'close');
    const err = JSON.parse(r.body);
    assert.equal(err.type, 'error');
    assert.equal(err.error.type, 'overloaded_error');
    assert.match(err.error.message, /connection limit/);
    assert.ok((await metrics(tp.port)).over_limit >= 1);
    for (const res of stalls) res.end();
    stalls = [];
    const done = await Promise.all(busy);
    for (const d of done) assert.match(d.text, /^HTTP\/1\.1 200 /);
    const after = await request(tp.port, { method: 'POST', path: '/v1/messages', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(after.status, 200);
  } finally {
    for (const res of stalls) res.end();
    stalls = [];
    await stopProxy(tp);
  }
});

// ---------------------------------------------------------------- slow bodies
await test('slow request body: 408 past --min-body-rate, and nothing was held upstream', async () => {
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--min-body-rate', '1000', '--min-body-rate-window', '1'], quiet);
  try {
    const startsBefore = events.filter((e) => e === 'slowbody:start').length;
    const r = await raw(tp.port, 'POST /slowbody HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789', { ms: 15000 });
    assert.match(r.text, /^HTTP\/1\.1 408 /, r.text);
    assert.ok(r.closed, 'connection closed');
    assert.equal(JSON.parse(parseResponses(r.text)[0].body).error.type, 'timeout_error');
    assert.equal(events.filter((e) => e === 'slowbody:start').length, startsBefore, 'the upstream was contacted');
    // /metrics sums the workers, each other worker as of the end of its last loop turn:
    // wait for the one that answered 408 to have finished that turn
    let m;
    await until(async () => (m = await metrics(tp.port)).timeouts >= 1, `timeouts in /metrics`);
    assert.equal(m.requests_active, 0);
    // the access log is written once per loop turn, after the answer: wait for the line
    await until(() => /"POST \/slowbody" 408 /.test(tp.stderrText), 'the access log line of the 408');
    assert.match(tp.stderrText, /"POST \/slowbody" 408 .*slower than the minimum rate/);
  } finally {
    await stopProxy(tp);
  }
});

await test('slow request body after 1.5 MB: 408, and the upstream transfer is cancelled', async () => {
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--min-body-rate', '1000', '--min-body-rate-window', '1'], quiet);
  try {
    events.length = 0;
    const first = Buffer.alloc(1536 * 1024, 0x62);
    const r = await raw(tp.port, Buffer.concat([Buffer.from(`POST /slowbody HTTP/1.1\r\nHost: x\r\nContent-Length: ${8 * 1024 * 1024}\r\n\r\n`), first]), { ms: 15000 });
    assert.match(r.text, /^HTTP\/1\.1 408 /, r.text);
    await until(() => events.includes('slowbody:closed'), 'the upstream request to be cut');
    assert.ok(events.includes('slowbody:start'));
    const m = await metrics(tp.port);
    assert.equal(m.requests_active, 0);
  } finally {
    await stopProxy(tp);
  }
});

// ---------------------------------------------------------------- results_url
await test('results_url comes from the address the client reached, never from its Host header', async () => {
  const r = await request(P, { path: '/v1/messages/batches/msgbatch_h', headers: { host: 'attacker.example' } });
  assert.equal(JSON.parse(r.body).results_url, `http://127.0.0.1:${P}/v1/messages/batches/msgbatch_h/results`);
});

await test('results_url with --public-url', async () => {
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--public-url', 'https://llm.example.com/anthropic/'], quiet);
  try {
    const r = await request(tp.port, { path: '/v1/messages/batches/msgbatch_p', headers: { host: 'attacker.example' } });
    assert.equal(JSON.parse(r.body).results_url, 'https://llm.example.com/anthropic/v1/messages/batches/msgbatch_p/results');
  } finally {
    await stopProxy(tp);
  }
  const byEnv = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP], { ...quiet, BT_PROXY_PUBLIC_URL: 'http://lb.example:8080' });
  try {
    const r = await request(byEnv.port, { path: '/v1/messages/batches/msgbatch_e' });
    assert.equal(JSON.parse(r.body).results_url, 'http://lb.example:8080/v1/messages/batches/msgbatch_e/results');
  } finally {
    await stopProxy(byEnv);
  }
  const bad = await startProxy(['--listen', '127.0.0.1:0', '--public-url', 'ftp://x'], quiet).catch((e) => e);
  assert.ok(bad instanceof Error && /bad value for --public-url/.test(bad.message), String(bad));
});

await test('the proxy is still healthy and exits cleanly', async () => {
  assert.equal((await request(P, { path: '/healthz' })).status, 200);
  await stopProxy(proxy);
});

clearTimeout(dog);
upstream.close();
rawUpstream.close();
finish('hostile-input tests');
