// End-to-end test of bt-proxy against a small scripted upstream that runs in this
// process (so every byte the upstream receives and sends can be checked): exact
// pass-through (JSON, gzip, SSE, large bodies both ways), streaming and backpressure,
// results_url rewriting, HTTP safety (smuggling shapes, limits, 100-continue, HEAD,
// keep-alive, no open relay), the inbound token, healthz/metrics, secrets and SIGTERM.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';

import { dechunk, finish, raw, request, sleep, startProxy, test, watchdog } from '../support/proxy_harness.mjs';

const TMP = process.env.BT_TEST_TMPDIR || '/tmp';
const CANARY = 'sk-ant-api03-CANARY-proxy-test-0123456789';
const QUERY_CANARY = 'query-secret-CANARY-42';
// A hang anywhere is a failure, never a stuck CI job.
const dog = watchdog(240000, 'proxy test');

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------- the upstream
const upstreamSeen = []; // {method, url, headers, bodyLen, bodySha}
const sse = { finished: false };
const big = { written: 0, total: 64 * 1024 * 1024, done: false };
let upstreamPort = 0;

function batchObject(id, status = 'ended') {
  // Deliberately odd spacing and key order: the rewrite must leave it all alone.
  return `{"id":"${id}","type":"message_batch","processing_status":"${status}",` +
    `"request_counts":{"processing":0,"succeeded":2,"errored":1,"canceled":0,"expired":0},` +
    `"created_at":"2026-11-29T04:00:00.123456+00:00","ended_at":"2026-11-29T04:01:00Z",` +
    `"results_url" :  "https://api.anthropic.com/v1/messages/batches/${id}/results",` +
    `"note":"results_url is mentioned here: https://api.anthropic.com/keep"}`;
}
const RESULTS = '{"custom_id":"a","result":{"type":"succeeded","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-test","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}}}\n' +
  '{"custom_id":"b","result":{"type":"canceled"}}\n';
const MESSAGE = JSON.stringify({ id: 'msg_01', type: 'message', role: 'assistant', model: 'claude-test-1', content: [{ type: 'text', text: 'Hello through the proxy' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 12, output_tokens: 5 } });

function sseEvents() {
  const ev = (type, data) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
  return [
    ev('message_start', { type: 'message_start', message: { id: 'msg_s', type: 'message', role: 'assistant', model: 'claude-test-1', content: [], stop_reason: null, usage: { input_tokens: 9, output_tokens: 1 } } }),
    ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } }),
    ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'lo' } }),
    ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
    ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 2 } }),
    ev('message_stop', { type: 'message_stop' }),
  ];
}

function wantsStream(body) {
  try { return JSON.parse(body).stream === true; } catch { return false; }
}

function sendMaybeGzip(req, res, status, body, type) {
  const headers = { 'content-type': type, 'request-id': 'req_test_1' };
  let out = Buffer.from(body);
  if ((req.headers['accept-encoding'] || '').includes('gzip')) {
    out = zlib.gzipSync(out);
    headers['content-encoding'] = 'gzip';
  }
  headers['content-length'] = out.length;
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : out);
}

const slowUp = { clientWrote: 0, atResume: -1 };

const upstream = http.createServer(async (req, res) => {
  if (req.url === '/slowup') {
    // Takes nothing for a while, then drains the body: the client must be held back.
    req.pause();
    await sleep(3000);
    slowUp.atResume = slowUp.clientWrote;
    let n = 0;
    req.on('data', (c) => { n += c.length; });
    req.resume();
    await new Promise((r) => req.on('end', r));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ bodyLen: n }));
    return;
  }
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks);
  upstreamSeen.push({ method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, bodyLen: body.length, bodySha: sha(body) });
  const u = new URL(req.url, 'http://x');
  const p = u.pathname;
  if (p === '/echo') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyLen: body.length, bodySha: sha(body) }));
  } else if (p === '/v1/messages' && wantsStream(body)) {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': 'req_sse' });
    const evs = sseEvents();
    const pace = Number(u.searchParams.get('pace') || 150);
    for (const e of evs) {
      res.write(e);
      await sleep(pace);
    }
    sse.finished = true;
    res.end();
  } else if (p === '/v1/messages') {
    sendMaybeGzip(req, res, 200, MESSAGE, 'application/json');
  } else if (p === '/v1/messages/batches' && req.method === 'GET') {
    sendMaybeGzip(req, res, 200, `{"data":[${batchObject('msgbatch_a')},${batchObject('msgbatch_b', 'in_progress').replace(/"results_url" :  "[^"]*"/, '"results_url":null')}],"has_more":false,"first_id":"msgbatch_a","last_id":"msgbatch_b"}`, 'application/json');
  } else if (/^\/v1\/messages\/batches\/[^/]+\/results$/.test(p)) {
    sendMaybeGzip(req, res, 200, RESULTS, 'application/binary');
  } else if (/^\/v1\/messages\/batches\/[^/]+$/.test(p)) {
    sendMaybeGzip(req, res, 200, batchObject(p.split('/').pop()), 'application/json');
  } else if (p === '/big') {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const block = Buffer.alloc(256 * 1024, 0x61);
    while (big.written < big.total) {
      big.written += block.length;
      if (!res.write(block)) await new Promise((r) => res.once('drain', r));
    }
    big.done = true;
    res.end();
  } else if (p === '/cut') {
    // Headers and part of a body, then the connection breaks.
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(sseEvents()[0]);
    await sleep(100);
    res.socket.destroy();
  } else if (p === '/stall') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(sseEvents()[0]);
    await sleep(8000);
    res.end();
  } else if (p === '/status/204') {
    res.writeHead(204, { 'x-kind': 'empty' });
    res.end();
  } else if (p === '/status/304') {
    res.writeHead(304, { etag: '"v1"' });
    res.end();
  } else if (p === '/status/429') {
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7', 'x-should-retry': 'true' });
    res.end('{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}');
  } else {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"type":"error","error":{"type":"not_found_error","message":"nope"}}');
  }
});

// ---------------------------------------------------------------- the tests
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
upstreamPort = upstream.address().port;
const UP = `http://127.0.0.1:${upstreamPort}`;
fs.mkdirSync(TMP, { recursive: true });
const spansPath = path.join(TMP, `proxy-spans-${process.pid}.jsonl`);
fs.rmSync(spansPath, { force: true });

const proxy = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--spans-jsonl', spansPath],
  { OTEL_EXPORTER_OTLP_ENDPOINT: '', BRAINTRUST_API_KEY: '', OTEL_BSP_SCHEDULE_DELAY: '100' });
const P = proxy.port;
const apiHeaders = { 'x-api-key': CANARY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

await test('GET /healthz answers 200 {"status":"ok"}', async () => {
  const r = await request(P, { path: '/healthz' });
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { status: 'ok' });
});

await test('messages JSON: status, body bytes and headers as direct', async () => {
  const body = JSON.stringify({ model: 'claude-test-1', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
  const opts = { method: 'POST', path: `/v1/messages?beta=true&key=${QUERY_CANARY}`, headers: { ...apiHeaders, traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` }, body };
  const direct = await request(upstreamPort, opts);
  const via = await request(P, opts);
  assert.equal(via.status, direct.status);
  assert.ok(via.body.equals(direct.body));
  assert.equal(via.headers['request-id'], 'req_test_1');
  assert.equal(via.headers['content-length'], direct.headers['content-length']);
  const seen = upstreamSeen.at(-1);
  assert.equal(seen.url, `/v1/messages?beta=true&key=${QUERY_CANARY}`);
  assert.equal(seen.bodySha, sha(body));
});

await test('gzip responses pass through compressed, byte for byte', async () => {
  const opts = { method: 'POST', path: '/v1/messages', headers: { ...apiHeaders, 'accept-encoding': 'gzip' }, body: '{"model":"m","max_tokens":1,"messages":[]}' };
  const direct = await request(upstreamPort, opts);
  const via = await request(P, opts);
  assert.equal(via.headers['content-encoding'], 'gzip');
  assert.ok(via.body.equals(direct.body));
  assert.equal(zlib.gunzipSync(via.body).toString(), MESSAGE);
});

await test('request headers: hop-by-hop, x-bt-parent, x-bt-session-id and proxy credentials are not forwarded; Host is the upstream', async () => {
  const r = await request(P, {
    method: 'POST', path: '/echo?a=1&b=%2F',
    headers: { ...apiHeaders, 'x-bt-parent': 'project_name:proxy-test', 'x-bt-session-id': 'session-1', connection: 'keep-alive, x-hop', 'x-hop': 'drop me', 'keep-alive': 'timeout=5', 'proxy-authorization': 'Basic abc', te: 'trailers', 'x-custom': 'Kept  value', 'anthropic-beta': 'a-1,b-2', traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` },
    body: 'x'.repeat(1000),
  });
  assert.equal(r.status, 200);
  const echo = JSON.parse(r.body);
  assert.equal(echo.url, '/echo?a=1&b=%2F');
  for (const h of ['x-bt-parent', 'x-bt-session-id', 'x-hop', 'keep-alive', 'proxy-authorization', 'te', 'x-bt-proxy-token']) assert.equal(echo.headers[h], undefined, h);
  assert.equal(echo.headers['x-custom'], 'Kept  value');
  assert.equal(echo.headers['anthropic-beta'], 'a-1,b-2');
  assert.equal(echo.headers['x-api-key'], CANARY);
  assert.equal(echo.headers.host, `127.0.0.1:${upstreamPort}`);
  assert.equal(echo.headers['content-length'], '1000');
  assert.equal(echo.headers.expect, undefined);
  assert.equal(echo.bodyLen, 1000);
});

await test('SSE: first event reaches the client before the upstream finishes; bytes identical; X-Accel-Buffering', async () => {
  sse.finished = false;
  let finishedAtFirstChunk = null;
  const body = JSON.stringify({ model: 'claude-test-1', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] });
  const via = await request(P, { method: 'POST', path: '/v1/messages?pace=250', headers: apiHeaders, body, onFirstChunk: () => { finishedAtFirstChunk = sse.finished; } });
  assert.equal(finishedAtFirstChunk, false, 'the stream was buffered');
  assert.equal(via.headers['x-accel-buffering'], 'no');
  assert.equal(via.headers['content-type'], 'text/event-stream; charset=utf-8');
  assert.equal(via.body.toString(), sseEvents().join(''));
});

await test('a 24 MB chunked request body streams upstream intact', async () => {
  const { Readable } = await import('node:stream');
  const total = 24 * 1024 * 1024;
  const hash = crypto.createHash('sha256');
  let sent = 0;
  const src = new Readable({
    read() {
      if (sent >= total) return this.push(null);
      const b = crypto.randomBytes(64 * 1024);
      hash.update(b);
      sent += b.length;
      this.push(b);
    },
  });
  const r = await request(P, { method: 'POST', path: '/echo', headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }, body: src });
  const echo = JSON.parse(r.body);
  assert.equal(echo.bodyLen, total);
  assert.equal(echo.bodySha, hash.digest('hex'));
  assert.equal(echo.headers['transfer-encoding'], 'chunked');
});

await test('backpressure: a client that stops reading stops the upstream read', async () => {
  big.written = 0;
  big.done = false;
  let writtenWhilePaused = -1;
  const r = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: P, path: '/big', agent: false }, (res) => {
      res.pause();
      setTimeout(() => {
        writtenWhilePaused = big.written;
        let n = 0;
        res.on('data', (c) => { n += c.length; });
        res.on('end', () => resolve({ n, status: res.statusCode }));
        res.resume();
      }, 1500);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(r.status, 200);
  assert.equal(r.n, big.total);
  assert.ok(writtenWhilePaused < big.total / 2, `upstream wrote ${writtenWhilePaused} bytes while the client read nothing`);
  console.log(`  (upstream had written ${(writtenWhilePaused / 1048576).toFixed(1)} MB while the client read nothing)`);
});

await test('backpressure: an upstream that stops reading the body stops the client upload', async () => {
  // Loopback sockets may buffer up to tcp_rmem max (32 MB here) per hop: the body must
  // be well beyond what the kernel can absorb on both hops.
  const total = 160 * 1024 * 1024;
  slowUp.clientWrote = 0;
  const r = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: P, method: 'POST', path: '/slowup', agent: false, headers: { 'content-length': total } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks))));
    });
    req.on('error', reject);
    const block = Buffer.alloc(256 * 1024, 0x62);
    const pump = () => {
      while (slowUp.clientWrote < total) {
        slowUp.clientWrote += block.length;
        if (!req.write(block)) return req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
  assert.equal(r.bodyLen, total);
  assert.ok(slowUp.atResume >= 0 && slowUp.atResume < 100 * 1024 * 1024, `client pushed ${slowUp.atResume} bytes into a stalled upstream`);
  console.log(`  (client had pushed ${(slowUp.atResume / 1048576).toFixed(1)} MB when the upstream started reading)`);
});

await test('results_url in batch objects points at the proxy (plain, gzip, list); nothing else changes', async () => {
  const host = `127.0.0.1:${P}`;
  const direct = await request(upstreamPort, { path: '/v1/messages/batches/msgbatch_x', headers: apiHeaders });
  const via = await request(P, { path: '/v1/messages/batches/msgbatch_x', headers: apiHeaders });
  const want = direct.body.toString().replace('"https://api.anthropic.com/v1/messages/batches/msgbatch_x/results"', `"http://${host}/v1/messages/batches/msgbatch_x/results"`);
  assert.equal(via.body.toString(), want);
  assert.equal(Number(via.headers['content-length']), via.body.length);

  const viaGz = await request(P, { path: '/v1/messages/batches/msgbatch_x?beta=true', headers: { ...apiHeaders, 'accept-encoding': 'gzip' } });
  assert.equal(viaGz.headers['content-encoding'], 'gzip');
  assert.equal(Number(viaGz.headers['content-length']), viaGz.body.length);
  assert.equal(zlib.gunzipSync(viaGz.body).toString(), want);

  const list = await request(P, { path: '/v1/messages/batches?limit=2', headers: apiHeaders });
  const parsed = JSON.parse(list.body);
  assert.equal(parsed.data[0].results_url, `http://${host}/v1/messages/batches/msgbatch_a/results`);
  assert.equal(parsed.data[1].results_url, null);
  assert.equal(parsed.data[0].note, 'results_url is mentioned here: https://api.anthropic.com/keep');

  // The SDKs then fetch that URL: it must come back through the proxy intact.
  const res = await request(P, { path: new URL(parsed.data[0].results_url).pathname, headers: apiHeaders });
  assert.equal(res.body.toString(), RESULTS);
});

await test('HEAD, 204 and 304 carry no body; error statuses pass through', async () => {
  const h = await raw(P, `HEAD /v1/messages/batches/msgbatch_h HTTP/1.1\r\nHost: x\r\n\r\nGET /status/204 HTTP/1.1\r\nHost: x\r\n\r\nGET /status/304 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  const parts = h.text.split('HTTP/1.1 ');
  assert.equal(parts.length, 4, h.text);
  assert.match(parts[1], /^200 /);
  assert.match(parts[1], /content-length: \d+/i);
  assert.ok(parts[1].endsWith('\r\n\r\n'), 'HEAD response has no body');
  assert.match(parts[2], /^204 /);
  assert.match(parts[2], /x-kind: empty/i);
  assert.ok(!/transfer-encoding/i.test(parts[2]));
  assert.match(parts[3], /^304 /);
  assert.ok(parts[3].endsWith('\r\n\r\n'));
  const e = await request(P, { path: '/status/429' });
  assert.equal(e.status, 429);
  assert.equal(e.headers['retry-after'], '7');
  assert.match(e.body.toString(), /rate_limit_error/);
});

await test('Expect: 100-continue gets 100 before the body is sent', async () => {
  const body = '{"hello":"world"}';
  let sentBody = false;
  const r = await raw(P, `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`, {
    steps: (got, s) => {
      if (!sentBody && got.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) { sentBody = true; s.write(body); }
    },
  });
  assert.ok(sentBody, r.text);
  assert.match(r.text, /HTTP\/1\.1 200 /);
  const echo = JSON.parse(dechunk(r.text.slice(r.text.indexOf('\r\n\r\n', r.text.indexOf('HTTP/1.1 200')) + 4)));
  assert.equal(echo.bodySha, sha(body));
});

await test('keep-alive and pipelining: several requests on one connection', async () => {
  const r = await raw(P, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/messages/batches/msgbatch_k HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal((r.text.match(/HTTP\/1\.1 200 /g) || []).length, 3, r.text);
  assert.ok(r.closed);
});

const smuggling = {
  'Content-Length with Transfer-Encoding': 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'duplicate Content-Length': 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
  'invalid Content-Length': 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4x\r\n\r\nabcd',
  'bad chunk size': 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
  'obs-fold header': 'GET /echo HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n',
  'Transfer-Encoding not ending in chunked': 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabcd',
  'space before colon': 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length : 4\r\n\r\nabcd',
};
for (const [name, req] of Object.entries(smuggling)) {
  await test(`smuggling shape rejected with 400 and close: ${name}`, async () => {
    const before = upstreamSeen.length;
    const r = await raw(P, req);
    assert.match(r.text, /^HTTP\/1\.1 400 /, r.text);
    assert.ok(r.closed, 'connection closed');
    assert.equal(upstreamSeen.length, before, 'nothing reached the upstream');
  });
}

await test('header limits: oversized head and too many fields get 431', async () => {
  const big = await raw(P, `GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
  assert.match(big.text, /^HTTP\/1\.1 431 /);
  let many = 'GET /echo HTTP/1.1\r\nHost: x\r\n';
  for (let i = 0; i < 150; i++) many += `X-H${i}: v\r\n`;
  const m = await raw(P, many + '\r\n');
  assert.match(m.text, /^HTTP\/1\.1 431 /);
  assert.ok(m.closed);
});

await test('no open relay: absolute-form targets for other hosts and CONNECT are refused', async () => {
  const before = upstreamSeen.length;
  const a = await raw(P, 'GET http://example.com/v1/messages HTTP/1.1\r\nHost: example.com\r\n\r\n');
  assert.match(a.text, /^HTTP\/1\.1 403 /);
  const c = await raw(P, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
  assert.match(c.text, /^HTTP\/1\.1 4\d\d /);
  const ok = await raw(P, `GET ${UP}/echo HTTP/1.1\r\nHost: whatever\r\nConnection: close\r\n\r\n`);
  assert.match(ok.text, /^HTTP\/1\.1 200 /);
  assert.equal(upstreamSeen.length, before + 1);
  assert.equal(upstreamSeen.at(-1).url, '/echo');
});

await test('a client leaving mid-stream cancels the upstream transfer; the proxy carries on', async () => {
  sse.finished = false;
  const body = JSON.stringify({ model: 'claude-test-1', max_tokens: 10, stream: true, messages: [] });
  await new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: P, method: 'POST', path: '/v1/messages?pace=300', headers: apiHeaders, agent: false }, (res) => {
      res.once('data', () => { req.destroy(); resolve(); });
    });
    req.on('error', () => {});
    req.end(body);
  });
  let m;
  for (let i = 0; i < 50; i++) {
    m = JSON.parse((await request(P, { path: '/metrics', headers: { accept: 'application/json' } })).body);
    if (m.requests_active === 0) break;
    await sleep(100);
  }
  assert.equal(m.requests_active, 0);
  assert.equal((await request(P, { path: '/healthz' })).status, 200);
  assert.match(proxy.stderrText, /"POST \/v1\/messages\?pace=\*" 499 .*client went away/);
});

await test('an upstream that breaks mid-body leaves the client with a visibly cut response', async () => {
  const outcome = await new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: P, path: '/cut', agent: false }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve('complete'));
      res.on('error', () => resolve('cut'));
      res.on('aborted', () => resolve('cut'));
    });
    req.on('error', () => resolve('cut'));
    req.end();
  });
  assert.equal(outcome, 'cut');
  const m = JSON.parse((await request(P, { path: '/metrics', headers: { accept: 'application/json' } })).body);
  assert.ok(m.upstream_errors >= 1);
});

await test('HTTP/1.0 clients get a close-delimited body', async () => {
  const r = await raw(P, 'POST /echo HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc');
  assert.match(r.text, /^HTTP\/1\.1 200 /);
  assert.ok(!/transfer-encoding/i.test(r.text));
  assert.match(r.text, /connection: close/i);
  assert.ok(r.closed);
  const echo = JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4));
  assert.equal(echo.bodyLen, 3);
});

await test('hostile input: 300 mutated requests never crash or wedge the proxy', async () => {
  const base = Buffer.from('POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nX-Api-Key: k\r\n\r\n5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n');
  let seed = 12345;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const pending = [];
  for (let i = 0; i < 300; i++) {
    const b = Buffer.from(base);
    const edits = 1 + rnd(4);
    for (let k = 0; k < edits; k++) {
      const pos = rnd(b.length);
      const op = rnd(3);
      if (op === 0) b[pos] = rnd(256);
      else if (op === 1) b[pos] = [0x0d, 0x0a, 0x20, 0x3a, 0x00, 0x09][rnd(6)];
      else b.copy(b, pos, Math.min(b.length - 1, pos + 1 + rnd(8)));
    }
    pending.push(raw(P, b, { ms: 1500 }));
    if (pending.length >= 20) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  assert.equal((await request(P, { path: '/healthz' })).status, 200);
});

await test('GET /metrics reports requests, bytes and spans', async () => {
  const r = await request(P, { path: '/metrics', headers: { accept: 'application/json' } });
  const m = JSON.parse(r.body);
  assert.ok(m.requests >= 10, JSON.stringify(m));
  assert.ok(m.bytes_in > 24 * 1024 * 1024);
  assert.ok(m.bytes_out > 64 * 1024 * 1024);
  assert.ok(m.rejected >= 9);
  assert.ok(m.connections_active >= 1);
  for (const k of ['started', 'ended', 'exported', 'dropped']) assert.equal(typeof m.spans[k], 'number');
});

await test('SIGTERM: in-flight stream finishes, spans are flushed, exit 0 within 15 s', async () => {
  sse.finished = false;
  const body = JSON.stringify({ model: 'claude-test-1', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'bye' }] });
  const inflight = request(P, { method: 'POST', path: '/v1/messages?pace=300', headers: { ...apiHeaders, 'x-bt-parent': 'project_name:sigterm-test' }, body, onFirstChunk: () => proxy.kill('SIGTERM') });
  const r = await inflight;
  assert.equal(r.body.toString(), sseEvents().join(''));
  const t0 = Date.now();
  const exit = await Promise.race([proxy.exitPromise, sleep(15000).then(() => ({ code: 'timeout' }))]);
  assert.deepEqual(exit, { code: 0, signal: null }, proxy.stderrText.slice(-3000));
  assert.ok(Date.now() - t0 < 15000);
  const lines = fs.readFileSync(spansPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.ok(lines.length >= 4, `spans written: ${lines.length}`);
  assert.ok(lines.some((s) => s.traceId === TRACE_ID), 'traceparent made a span its child');
  const withParent = lines.filter((s) => JSON.stringify(s.attributes || []).includes('sigterm-test'));
  assert.ok(withParent.length >= 1, 'x-bt-parent became braintrust.parent');
});

await test('secrets: the API key and query values appear in no span and no log line', async () => {
  const spans = fs.existsSync(spansPath) ? fs.readFileSync(spansPath, 'utf8') : '';
  for (const secret of [CANARY, QUERY_CANARY]) {
    assert.ok(!spans.includes(secret), 'secret in spans');
    assert.ok(!proxy.stderrText.includes(secret), 'secret in the log');
  }
  assert.match(proxy.stderrText, /"POST \/v1\/messages\?beta=\*&key=\*" 200 /);
});

await test('inbound token: required when configured, never forwarded', async () => {
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP], { BT_PROXY_TOKEN: 'tok-123', OTEL_SDK_DISABLED: 'true' });
  try {
    const no = await request(tp.port, { path: '/echo' });
    assert.equal(no.status, 401);
    const wrong = await request(tp.port, { path: '/echo', headers: { 'x-bt-proxy-token': 'tok-124' } });
    assert.equal(wrong.status, 401);
    const yes = await request(tp.port, { path: '/echo', headers: { 'x-bt-proxy-token': 'tok-123' } });
    assert.equal(yes.status, 200);
    assert.equal(JSON.parse(yes.body).headers['x-bt-proxy-token'], undefined);
    const bearer = await request(tp.port, { path: '/echo', headers: { 'proxy-authorization': 'Bearer tok-123' } });
    assert.equal(bearer.status, 200);
    assert.equal(JSON.parse(bearer.body).headers['proxy-authorization'], undefined);
    assert.equal((await request(tp.port, { path: '/healthz' })).status, 200);
    assert.equal((await request(tp.port, { path: '/metrics' })).status, 401);
    assert.ok(!tp.stderrText.includes('tok-123'));
  } finally {
    tp.kill('SIGTERM');
    const exit = await tp.exitPromise;
    assert.deepEqual(exit, { code: 0, signal: null }, tp.stderrText.slice(-2000));
  }
});

await test('idle clients are closed after --client-idle-timeout', async () => {
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--client-idle-timeout', '1'], { OTEL_SDK_DISABLED: 'true' });
  try {
    const idle = await raw(tp.port, '', { ms: 8000 });
    assert.ok(idle.closed, 'idle connection closed');
    const partial = await raw(tp.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', { ms: 8000 });
    assert.ok(partial.closed, 'a head that stops arriving is closed');
    const afterOne = await raw(tp.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', { ms: 8000 });
    assert.match(afterOne.text, /^HTTP\/1\.1 200 /);
    assert.ok(afterOne.closed, 'kept-alive connection closed once idle');
    // A streaming request is not idle while the upstream is the one that is silent...
    const stalled = await raw(tp.port, 'GET /stall HTTP/1.1\r\nHost: x\r\n\r\n', { ms: 2500 });
    assert.match(stalled.text, /^HTTP\/1\.1 200 /);
    assert.ok(!stalled.closed, 'client idle timeout must not cut a stream that waits on the upstream');
  } finally {
    tp.kill('SIGTERM');
    assert.deepEqual(await tp.exitPromise, { code: 0, signal: null }, tp.stderrText.slice(-2000));
  }
});

await test('TLS upstream over HTTP/2: verification is on; with the right CA the stream passes', async () => {
  const key = path.join(TMP, `proxy-tls-${process.pid}.key`);
  const cert = path.join(TMP, `proxy-tls-${process.pid}.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  let protocol = null;
  const tls = http2.createSecureServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert), allowHTTP1: true }, async (req, res) => {
    protocol = req.httpVersion;
    for await (const _ of req) { /* drain */ }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'request-id': 'req_h2' });
    for (const e of sseEvents()) { res.write(e); await sleep(20); }
    res.end();
  });
  await new Promise((r) => tls.listen(0, '127.0.0.1', r));
  const up = `https://127.0.0.1:${tls.address().port}`;
  const noCa = await startProxy(['--listen', '127.0.0.1:0', '--upstream', up], { OTEL_SDK_DISABLED: 'true' });
  const withCa = await startProxy(['--listen', '127.0.0.1:0', '--upstream', up, '--ca-bundle', cert], { OTEL_SDK_DISABLED: 'true' });
  try {
    const body = JSON.stringify({ model: 'claude-test-1', max_tokens: 5, stream: true, messages: [] });
    const bad = await request(noCa.port, { method: 'POST', path: '/v1/messages', headers: apiHeaders, body });
    assert.equal(bad.status, 502, 'an unverifiable certificate is refused');
    assert.equal(protocol, null, 'nothing reached the unverified upstream');
    const good = await request(withCa.port, { method: 'POST', path: '/v1/messages', headers: apiHeaders, body });
    assert.equal(good.status, 200);
    assert.equal(protocol, '2.0');
    assert.equal(good.headers['request-id'], 'req_h2');
    assert.equal(good.headers['x-accel-buffering'], 'no');
    assert.equal(good.body.toString(), sseEvents().join(''));
  } finally {
    for (const p of [noCa, withCa]) {
      p.kill('SIGTERM');
      assert.deepEqual(await p.exitPromise, { code: 0, signal: null }, p.stderrText.slice(-2000));
    }
    tls.close();
    fs.rmSync(key, { force: true });
    fs.rmSync(cert, { force: true });
  }
});

await test('--upstream-idle-timeout cuts an upstream that stops sending', async () => {
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--upstream-idle-timeout', '1'], { OTEL_SDK_DISABLED: 'true' });
  try {
    const r = await raw(tp.port, 'GET /stall HTTP/1.1\r\nHost: x\r\n\r\n', { ms: 7000 });
    assert.match(r.text, /^HTTP\/1\.1 200 /);
    assert.ok(r.closed, 'connection cut after the upstream went quiet');
    assert.ok(!r.text.includes('\r\n0\r\n\r\n'), 'no final chunk: the cut is visible');
  } finally {
    tp.kill('SIGTERM');
    assert.deepEqual(await tp.exitPromise, { code: 0, signal: null }, tp.stderrText.slice(-2000));
  }
});

await test('SIGTERM with a hanging OTLP endpoint: spans spooled in --store, exit within 15 s', async () => {
  const sockets = new Set();
  const received = [];
  const hang = net.createServer((s) => { sockets.add(s); s.on('error', () => {}); s.on('data', (d) => received.push(d)); });
  await new Promise((r) => hang.listen(0, '127.0.0.1', r));
  const store = path.join(TMP, `proxy-spool-${process.pid}.db`);
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', UP, '--store', store],
    { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${hang.address().port}`, OTEL_BSP_SCHEDULE_DELAY: '100', BRAINTRUST_API_KEY: CANARY });
  try {
    const body = JSON.stringify({ model: 'claude-test-1', max_tokens: 10, messages: [{ role: 'user', content: 'spool me' }] });
    assert.equal((await request(tp.port, { method: 'POST', path: '/v1/messages', headers: apiHeaders, body })).status, 200);
    await sleep(300);
    const t0 = Date.now();
    tp.kill('SIGTERM');
    const exit = await Promise.race([tp.exitPromise, sleep(15000).then(() => ({ code: 'timeout' }))]);
    assert.equal(exit.code, 0, tp.stderrText.slice(-2000));
    assert.ok(Date.now() - t0 < 15000);
    assert.ok(fs.statSync(store).size > 0, 'store written');
    assert.ok(!tp.stderrText.includes(CANARY), 'key in the log');
    // The Braintrust key is for the Braintrust API only, never a third-party collector.
    assert.ok(received.length > 0, 'the OTLP endpoint was tried');
    assert.ok(!Buffer.concat(received).includes(CANARY), 'Braintrust key sent to an OTLP endpoint');
    for (const f of fs.readdirSync(TMP).filter((n) => n.startsWith(path.basename(store)))) {
      assert.ok(!fs.readFileSync(path.join(TMP, f)).includes(CANARY), `key in ${f}`);
    }
  } finally {
    tp.kill('SIGKILL');
    for (const s of sockets) s.destroy();
    hang.close();
    for (const f of fs.readdirSync(TMP).filter((n) => n.startsWith(path.basename(store)))) fs.rmSync(path.join(TMP, f), { force: true });
  }
});

await test('unreachable upstream: 502 with an Anthropic-shaped error naming the cause, in the span too', async () => {
  const dead = net.createServer();
  await new Promise((r) => dead.listen(0, '127.0.0.1', r));
  const port = dead.address().port;
  await new Promise((r) => dead.close(r));
  const jsonl = path.join(TMP, `proxy-dead-${process.pid}.jsonl`);
  const tp = await startProxy(['--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${port}`, '--spans-jsonl', jsonl]);
  try {
    const r = await request(tp.port, { method: 'POST', path: '/v1/messages', headers: apiHeaders, body: '{}' });
    assert.equal(r.status, 502);
    const err = JSON.parse(r.body).error;
    assert.equal(err.type, 'api_error');
    assert.equal(err.message, "upstream request failed: Couldn't connect to server");
  } finally {
    tp.kill('SIGTERM');
    assert.deepEqual(await tp.exitPromise, { code: 0, signal: null }, tp.stderrText.slice(-2000));
  }
  const span = JSON.parse(fs.readFileSync(jsonl, 'utf8').split('\n')[0]);
  fs.rmSync(jsonl, { force: true });
  assert.equal(span.status.message, "transport_error: upstream: Couldn't connect to server");
});

clearTimeout(dog);
upstream.close();
fs.rmSync(spansPath, { force: true });
finish('proxy tests');
