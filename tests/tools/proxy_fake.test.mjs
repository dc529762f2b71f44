// bt-proxy in front of fake-anthropic: the same calls made directly and through the
// proxy give the same answers (JSON, gzip, paced SSE, a batch from create to results
// fetched through the rewritten results_url), and the spans written on SIGTERM
// describe them without ever containing the API key.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { finish, request, startTool, test, watchdog } from '../support/proxy_harness.mjs';

const TMP = process.env.BT_TEST_TMPDIR || '/tmp';
const CANARY = 'sk-ant-api03-CANARY-fake-proxy-9876543210';
const timer = watchdog(180000, 'proxy_fake test');

// Ids and request ids come from counters in the fake: compare everything else.
const normalize = (s) => s.replace(/"(msg|toolu|req|msgbatch)_[A-Za-z0-9_]+"/g, '"$1_X"').replace(/[ ]+}/g, '}');

fs.mkdirSync(TMP, { recursive: true });
const spansPath = path.join(TMP, `proxy-fake-spans-${process.pid}.jsonl`);
fs.rmSync(spansPath, { force: true });
const fake = await startTool('fake-anthropic', ['--listen', '127.0.0.1:0', '--pace-ms', '150', '--batch-polls', '1']);
const proxy = await startTool('bt-proxy', ['--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${fake.port}`, '--spans-jsonl', spansPath],
  { OTEL_EXPORTER_OTLP_ENDPOINT: '', BRAINTRUST_API_KEY: '', OTEL_BSP_SCHEDULE_DELAY: '100' });
const F = fake.port;
const P = proxy.port;
const H = { 'x-api-key': CANARY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
const msgBody = (extra = {}) => JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }], ...extra });

await test('messages JSON: same answer directly and through the proxy', async () => {
  const d = await request(F, { method: 'POST', path: '/v1/messages', headers: H, body: msgBody() });
  const v = await request(P, { method: 'POST', path: '/v1/messages', headers: H, body: msgBody() });
  assert.equal(v.status, 200);
  assert.equal(normalize(v.body.toString()), normalize(d.body.toString()));
  assert.match(v.headers['request-id'], /^req_fake_/);
});

await test('gzip: the compressed body reaches the client compressed', async () => {
  const hz = { ...H, 'accept-encoding': 'gzip' };
  const d = await request(F, { method: 'POST', path: '/v1/messages', headers: hz, body: msgBody() });
  const v = await request(P, { method: 'POST', path: '/v1/messages', headers: hz, body: msgBody() });
  assert.equal(v.headers['content-encoding'], d.headers['content-encoding']);
  const unz = (r) => (r.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(r.body) : r.body).toString();
  assert.equal(normalize(unz(v)), normalize(unz(d)));
});

await test('paced SSE arrives event by event, identical to direct', async () => {
  let firstChunk = null;
  const body = msgBody({ stream: true });
  const v = await request(P, { method: 'POST', path: '/v1/messages', headers: H, body, onFirstChunk: (c) => { firstChunk = c.toString(); } });
  const d = await request(F, { method: 'POST', path: '/v1/messages', headers: H, body });
  assert.ok(firstChunk.includes('message_start'));
  assert.ok(!firstChunk.includes('message_stop'), 'the whole stream arrived at once');
  assert.equal(v.headers['x-accel-buffering'], 'no');
  assert.equal(normalize(v.body.toString()), normalize(d.body.toString()));
});

await test('error statuses and bodies pass through', async () => {
  for (const s of ['429', '529', '404']) {
    const v = await request(P, { method: 'POST', path: '/v1/messages', headers: { ...H, 'x-fake-scenario': s }, body: msgBody() });
    const d = await request(F, { method: 'POST', path: '/v1/messages', headers: { ...H, 'x-fake-scenario': s }, body: msgBody() });
    assert.equal(v.status, Number(s));
    assert.equal(normalize(v.body.toString()), normalize(d.body.toString()));
    if (s === '429') assert.equal(v.headers['retry-after'], d.headers['retry-after']);
  }
});

let batchId;
await test('batch: create, poll, results_url through the proxy, results identical to direct', async () => {
  const requests = ['a', 'b', 'errored-c'].map((id) => ({ custom_id: id, params: { model: 'claude-sonnet-4-5', max_tokens: 32, messages: [{ role: 'user', content: `hi ${id}` }] } }));
  const c = await request(P, { method: 'POST', path: '/v1/messages/batches', headers: H, body: JSON.stringify({ requests }) });
  assert.equal(c.status, 200, c.body.toString());
  batchId = JSON.parse(c.body).id;
  let batch;
  for (let i = 0; i < 20; i++) {
    batch = JSON.parse((await request(P, { path: `/v1/messages/batches/${batchId}`, headers: H })).body);
    if (batch.processing_status === 'ended') break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(batch.processing_status, 'ended');
  const url = new URL(batch.results_url);
  assert.equal(url.host, `127.0.0.1:${P}`, 'results_url points at the proxy');
  const direct = JSON.parse((await request(F, { path: `/v1/messages/batches/${batchId}`, headers: H })).body);
  assert.equal(new URL(direct.results_url).host, `127.0.0.1:${F}`);
  const { results_url: _a, ...restVia } = batch;
  const { results_url: _b, ...restDirect } = direct;
  assert.deepEqual(restVia, restDirect);
  const viaRes = await request(P, { path: url.pathname, headers: { ...H, accept: 'application/binary' } });
  const dirRes = await request(F, { path: url.pathname, headers: { ...H, accept: 'application/binary' } });
  assert.equal(viaRes.status, 200);
  assert.ok(viaRes.body.equals(dirRes.body));
  assert.equal(viaRes.body.toString().trim().split('\n').length, 3);
});

await test('batch list (gzip): every results_url is rewritten, Content-Length fixed', async () => {
  const r = await request(P, { path: '/v1/messages/batches?limit=5', headers: { ...H, 'accept-encoding': 'gzip' } });
  const text = (r.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(r.body) : r.body).toString();
  if (r.headers['content-length']) assert.equal(Number(r.headers['content-length']), r.body.length);
  const list = JSON.parse(text);
  const ended = list.data.filter((b) => b.results_url);
  assert.ok(ended.length >= 1);
  for (const b of ended) assert.equal(new URL(b.results_url).host, `127.0.0.1:${P}`);
});

await test('SIGTERM flushes spans: messages and batch spans, no API key anywhere', async () => {
  proxy.kill('SIGTERM');
  const exit = await Promise.race([proxy.exitPromise, new Promise((r) => setTimeout(() => r({ code: 'timeout' }), 15000))]);
  assert.deepEqual(exit, { code: 0, signal: null }, proxy.stderrText.slice(-3000));
  const text = fs.readFileSync(spansPath, 'utf8');
  const spans = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.ok(spans.length >= 6, `only ${spans.length} spans`);
  const names = new Set(spans.map((s) => s.name));
  assert.ok([...names].some((n) => /messages/.test(n)), [...names].join(','));
  assert.ok([...names].some((n) => /batch/.test(n)), [...names].join(','));
  assert.ok(!text.includes(CANARY), 'API key in spans');
  assert.ok(!proxy.stderrText.includes(CANARY), 'API key in the log');
  // server.address and server.port name the API server the calls went to, not the proxy
  // the client's Host header named.
  const attr = (s, k) => s.attributes.find((a) => a.key === k)?.value;
  const placed = spans.filter((s) => attr(s, 'server.address'));
  assert.ok(placed.length >= 1, 'no span has server.address');
  for (const s of placed) {
    assert.deepEqual(attr(s, 'server.address'), { stringValue: '127.0.0.1' }, s.name);
    assert.deepEqual(attr(s, 'server.port'), { intValue: String(fake.port) }, s.name);
  }
  assert.match(proxy.stderrText, /"POST \/v1\/messages" 200 .*model=/);
});

clearTimeout(timer);
fake.kill('SIGTERM');
await fake.exitPromise;
fs.rmSync(spansPath, { force: true });
finish('proxy+fake tests');
