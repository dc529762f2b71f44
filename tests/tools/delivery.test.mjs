// Delivery under faults, end to end: bt-proxy in front of fake-anthropic, exporting to
// tests/node/otlp-receiver.mjs (an independent OTLP decoder on loopback) told to fail in
// each way: down then back, 429 with Retry-After, 503, 413 (a size limit), slow, a
// connection reset. With --store every span is delivered and none twice, and /metrics
// says what was sent, what waits in the store and what was lost; without a store the
// losses are counted in /metrics. Then kill -9 of the proxy under load and a restart on
// the same store: every span the store had committed reaches the receiver.
//
// Every wait is a bounded loop on a condition (the receiver's count, /metrics), never a
// fixed sleep standing in for one; the services are started here and always stopped.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';

const BUILD = process.env.BT_BUILD_DIR;
const SRC = process.env.BT_SOURCE_DIR;
const TMP = process.env.BT_TEST_TMPDIR || '/tmp';
const KEY = 'sk-ant-delivery-test-key-0123456789';
const children = new Set();
const killAll = () => { for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } } };
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(1); });
const watchdog = setTimeout(() => { console.error('delivery test: watchdog expired'); killAll(); process.exit(1); }, 480000);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function track(child) {
  children.add(child);
  child.stderrText = '';
  child.stderr.on('data', (d) => { child.stderrText += d; });
  child.exitPromise = new Promise((r) => child.on('exit', (code, signal) => { children.delete(child); r({ code, signal }); }));
  return child;
}

function startTool(bin, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(path.join(BUILD, bin), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${bin} did not start:\n${child.stderrText}`)), 30000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) { clearTimeout(timer); child.port = Number(m[1]); resolve(child); }
    });
    child.on('exit', () => { clearTimeout(timer); reject(new Error(`${bin} exited early:\n${child.stderrText}`)); });
  });
}

function startReceiver() {
  return new Promise((resolve, reject) => {
    const child = track(spawn('node', [path.join(SRC, 'tests/node/otlp-receiver.mjs'), '--lifetime', '600'], { stdio: ['pipe', 'pipe', 'pipe'] }));
    const timer = setTimeout(() => reject(new Error(`receiver did not start:\n${child.stderrText}`)), 30000);
    readline.createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      const ports = JSON.parse(line);
      child.otlpPort = ports.otlp;
      child.controlPort = ports.control;
      resolve(child);
    });
  });
}

function request(port, { method = 'GET', path: p = '/', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

let receiver;
const control = async (method, p, body) => JSON.parse((await request(receiver.controlPort, { method, path: p, body: body === undefined ? '' : JSON.stringify(body) })).body);
const summary = () => control('GET', '/summary');
const metrics = async (proxy) => JSON.parse((await request(proxy.port, { path: '/metrics', headers: { accept: 'application/json' } })).body);

const H = { 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
let callNo = 0;
const call = (proxy) => request(proxy.port, {
  method: 'POST', path: '/v1/messages', headers: H,
  body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: `call ${++callNo}` }] }),
});
async function traffic(proxy, n, concurrency = 4) {
  let next = 0;
  const worker = async () => { while (next < n) { next++; const r = await call(proxy); assert.equal(r.status, 200, r.body); } };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

// Polls `probe` until `ok` holds on its value, at most `tries` times `everyMs` apart.
async function until(what, probe, ok, { tries = 1200, everyMs = 100 } = {}) {
  let v;
  for (let i = 0; i < tries; i++) {
    v = await probe();
    if (ok(v)) return v;
    await sleep(everyMs);
  }
  throw new Error(`gave up waiting for ${what}: ${JSON.stringify(v).slice(0, 600)}`);
}

const results = [];
async function test(name, fn) {
  try { await fn(); results.push(true); console.log(`ok - ${name}`); } catch (e) {
    results.push(false);
    console.log(`not ok - ${name}\n  ${String(e && e.stack || e).split('\n').slice(0, 8).join('\n  ')}`);
  }
}

fs.mkdirSync(TMP, { recursive: true });
const work = fs.mkdtempSync(path.join(TMP, 'delivery-'));
const storePath = (name) => path.join(work, `${name}.db`);
const fake = await startTool('fake-anthropic', ['--listen', '127.0.0.1:0', '--pace-ms', '1']);
receiver = await startReceiver();
const otlpEnv = () => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.otlpPort}`, BRAINTRUST_API_KEY: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
  OTEL_SDK_DISABLED: '', BT_STORE_PATH: '',
});
const proxyWith = (args, env = {}) => startTool('bt-proxy', ['--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${fake.port}`, ...args], { ...otlpEnv(), ...env });
async function stop(proxy) {
  proxy.kill('SIGTERM');
  const exit = await proxy.exitPromise;
  assert.deepEqual(exit, { code: 0, signal: null }, proxy.stderrText.slice(-3000));
}
const count = (text, re) => (text.match(new RegExp(re, 'g')) || []).length;
const lastLine = (text) => text.trim().split('\n').at(-1);

// Every span id the store holds, from its own file (python3's sqlite3: an independent reader).
function storedIds(file) {
  const r = spawnSync('python3', ['-c', `import sqlite3,sys
db = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)
for t, s, sent in db.execute('SELECT trace_id, span_id, sent FROM spans'):
    print(t + '/' + s, sent)`, file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => { const [id, sent] = l.split(' '); return { id, sent: Number(sent) }; });
}

await test('--store, receiver down then back: every span delivered once, /metrics and the log tell the truth', async () => {
  await control('POST', '/reset');
  await control('POST', '/down');
  const proxy = await proxyWith(['--store', storePath('down')]);
  assert.match(proxy.stderrText, /spans go to the span store .*down\.db, sent on from there to OTLP http:\/\/127\.0\.0\.1:\d+\/v1\/traces/);
  await traffic(proxy, 30);
  const m = await until('30 spans spooled', () => metrics(proxy), (v) => v.spans.ended === 30 && v.spans.spooled === 30);
  assert.equal(m.spans.sent, 0);
  assert.equal(m.spans.dropped, 0);
  assert.equal(m.export.last_error.status, 0);
  assert.match(m.export.last_error.message, /onnect/);
  assert.equal(count(proxy.stderrText, 'span store: sending to OTLP [^\\n]* failed \\('), 1, proxy.stderrText);
  await control('POST', '/up');
  const after = await until('the spool to drain', () => metrics(proxy), (v) => v.spans.spooled === 0 && v.spans.sent === 30);
  assert.equal(after.spans.dropped, 0);
  const s = await summary();
  assert.equal(s.distinct, 30);
  assert.equal(s.spans, 30, `sent twice: ${s.duplicates}`);
  assert.match(proxy.stderrText, /sending to OTLP [^\n]* works again after \d+ failed attempt\(s\)/);
  await stop(proxy);
  assert.match(lastLine(proxy.stderrText), /stopped: \d+ request\(s\); spans: 30 ended, 30 reached the span store .*; 30 sent; 0 dropped/);
});

await test('--store, 429 with Retry-After then 503s: the shipper waits as asked, delivers once', async () => {
  await control('POST', '/reset');
  await control('POST', '/script', [{ status: 429, retryAfter: '2' }, { status: 503 }, { status: 503 }]);
  const proxy = await proxyWith(['--store', storePath('throttled')]);
  await traffic(proxy, 10, 1);
  await until('10 spans sent', () => metrics(proxy), (v) => v.spans.sent === 10 && v.spans.spooled === 0);
  const reqs = await control('GET', '/requests');
  assert.deepEqual(reqs.slice(0, 3).map((r) => r.status), [429, 503, 503]);
  assert.ok(reqs[1].receivedMs - reqs[0].receivedMs >= 1900, `Retry-After: 2 not honoured (${reqs[1].receivedMs - reqs[0].receivedMs} ms)`);
  const s = await summary();
  assert.equal(s.distinct, 10);
  assert.equal(s.spans, 10, `sent twice: ${s.duplicates}`);
  const m = await metrics(proxy);
  assert.equal(m.export.send_failures, 3);
  await stop(proxy);
});

await test('--store, 401 (a bad key): the spans wait in the store, the reason is logged once with its status', async () => {
  await control('POST', '/reset');
  await control('POST', '/script', [{ status: 401, body: 'invalid API key' }, { status: 401, body: 'invalid API key' }]);
  const proxy = await proxyWith(['--store', storePath('refused')]);
  await traffic(proxy, 4, 1);
  await until('4 spans sent', () => metrics(proxy), (v) => v.spans.sent === 4 && v.spans.spooled === 0);
  const m = await metrics(proxy);
  assert.equal(m.export.last_error.status, 401);
  assert.equal(m.export.last_error.message, 'HTTP 401: invalid API key');
  assert.equal(count(proxy.stderrText, 'failed \\(HTTP 401: invalid API key\\)'), 1, proxy.stderrText);
  const s = await summary();
  assert.equal(s.spans, 4, `sent twice: ${s.duplicates}`);
  await stop(proxy);
});

await test('--store, 413: batches halve until they fit; a span too large alone is set aside, counted and logged', async () => {
  await control('POST', '/reset');
  await control('POST', '/down');
  const proxy = await proxyWith(['--store', storePath('limit')]);
  await traffic(proxy, 12);
  await until('12 spans spooled', () => metrics(proxy), (v) => v.spans.spooled === 12);
  // One span encodes to about 1.5 kB: the 12 together are far over the limit.
  await control('POST', '/config', { maxBodyBytes: 4000 });
  await control('POST', '/up');
  await until('12 spans sent', () => metrics(proxy), (v) => v.spans.sent === 12 && v.spans.spooled === 0);
  let s = await summary();
  assert.ok(s.byStatus['413'] >= 1, JSON.stringify(s.byStatus));
  assert.equal(s.distinct, 12);
  assert.equal(s.spans, 12, `sent twice: ${s.duplicates}`);
  // A span larger than the receiver takes, then ordinary ones: it is set aside, they go.
  await control('POST', '/config', { maxBodyBytes: 16000 });
  const big = await request(proxy.port, {
    method: 'POST', path: '/v1/messages', headers: H,
    body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'x'.repeat(20000) }] }),
  });
  assert.equal(big.status, 200);
  await traffic(proxy, 4, 1);
  const m = await until('the big span set aside, the others sent', () => metrics(proxy),
    (v) => v.spans.rejected === 1 && v.spans.sent === 16 && v.spans.spooled === 0);
  assert.equal(m.export.last_error.status, 413);
  assert.equal(count(proxy.stderrText, 'set aside as undeliverable'), 1);
  s = await summary();
  assert.equal(s.spans, 16, `sent twice: ${s.duplicates}`);
  const aside = storedIds(storePath('limit')).filter((r) => r.sent === 2);
  assert.equal(aside.length, 1);
  await stop(proxy);
});

await test('--store, a slow receiver and a reset connection: delivered once, clients not held up', async () => {
  await control('POST', '/reset');
  await control('POST', '/script', [{ status: 200, reset: true }]);
  await control('POST', '/config', { delayMs: 1500 });
  const proxy = await proxyWith(['--store', storePath('slow')]);
  const t0 = Date.now();
  await traffic(proxy, 10, 2);
  const callsMs = Date.now() - t0;
  await until('10 spans sent', () => metrics(proxy), (v) => v.spans.sent === 10 && v.spans.spooled === 0, { tries: 900 });
  const s = await summary();
  assert.equal(s.distinct, 10);
  assert.equal(s.spans, 10, `sent twice: ${s.duplicates}`);
  // The 10 calls would take 15 s if a client waited for the receiver once.
  assert.ok(callsMs < 15000, `clients waited for the receiver (${callsMs} ms)`);
  await stop(proxy);
});

await test('no store, receiver down: losses counted in /metrics, logged once, then recovery', async () => {
  await control('POST', '/reset');
  await control('POST', '/down');
  const proxy = await proxyWith([], { OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_EXPORTER_OTLP_TIMEOUT: '500' });
  assert.match(proxy.stderrText, /spans go to OTLP http:\/\/127\.0\.0\.1:\d+\/v1\/traces/);
  await traffic(proxy, 20);
  const m = await until('20 spans dropped', () => metrics(proxy), (v) => v.spans.dropped === 20, { tries: 1200 });
  assert.equal(m.spans.sent, 0);
  assert.equal(m.spans.spooled, 0);
  assert.equal(m.export.last_error.status, 0);
  assert.equal(count(proxy.stderrText, 'OTLP export to [^\\n]* failed: '), 1, proxy.stderrText);
  await control('POST', '/up');
  await traffic(proxy, 5);
  await until('5 spans sent', () => metrics(proxy), (v) => v.spans.sent === 5, { tries: 1200 });
  assert.match(proxy.stderrText, /OTLP export to [^\n]* works again after \d+ failed export\(s\)/);
  await stop(proxy);
  assert.match(lastLine(proxy.stderrText), /spans: 25 ended, 5 reached OTLP [^;]*; 5 sent; 20 dropped/);
});

await test('no store, 503 twice: the exporter retries, every span once, nothing dropped', async () => {
  await control('POST', '/reset');
  await control('POST', '/script', [{ status: 503 }, { status: 503 }]);
  const proxy = await proxyWith([], { OTEL_BSP_SCHEDULE_DELAY: '50' });
  await traffic(proxy, 5, 1);
  const m = await until('5 spans sent', () => metrics(proxy), (v) => v.spans.sent === 5, { tries: 1200 });
  assert.equal(m.spans.dropped, 0);
  const s = await summary();
  assert.equal(s.spans, 5, `sent twice: ${s.duplicates}`);
  await stop(proxy);
});

await test('kill -9 under load, restart on the same store: every committed span is delivered', async () => {
  await control('POST', '/reset');
  await control('POST', '/config', { delayMs: 400 }); // shipments are in flight at the kill
  const file = storePath('killed');
  let proxy = await proxyWith(['--store', file]);
  let done = 0;
  const load = (async () => {
    const conc = 8;
    await Promise.all(Array.from({ length: conc }, async () => {
      for (;;) { try { await call(proxy); done++; } catch { return; } }
    }));
  })();
  await until('40 calls', async () => done, (n) => n >= 40, { tries: 600, everyMs: 20 });
  // Spans are traced and committed a little after their calls are answered (the proxy's
  // tracing threads, then the export batch): kill once 30 are in the store, load still on.
  await until('30 spans committed', async () => storedIds(file).length, (n) => n >= 30, { tries: 600, everyMs: 50 });
  proxy.kill('SIGKILL');
  assert.deepEqual(await proxy.exitPromise, { code: null, signal: 'SIGKILL' });
  await load;
  const committed = storedIds(file);
  assert.ok(committed.length >= 30, `only ${committed.length} spans committed`);
  const before = await summary();
  await control('POST', '/config', {});
  proxy = await proxyWith(['--store', file]);
  const all = new Set(committed.map((r) => r.id));
  await until('every committed span at the receiver', summary, (s) => [...all].every((id) => s.ids.includes(id)), { tries: 900 });
  await until('the spool to drain', () => metrics(proxy), (v) => v.spans.spooled === 0);
  const after = await summary();
  // At least once: a span comes twice only if the receiver took it before the kill
  // and its "sent" mark was not committed yet (a shipment in flight at the kill).
  const unsentAtKill = new Set(committed.filter((r) => r.sent === 0).map((r) => r.id));
  const inFlight = before.ids.filter((id) => unsentAtKill.has(id));
  for (const id of after.duplicates) assert.ok(inFlight.includes(id), `${id} sent twice without being in flight at the kill`);
  console.log(`# kill -9: ${committed.length} committed, ${before.distinct} received before the kill, ` +
    `${inFlight.length} of them not yet marked sent, ${after.distinct} received in all, ${after.duplicates.length} received twice`);
  assert.ok(storedIds(file).every((r) => r.sent === 1));
  await stop(proxy);
});

clearTimeout(watchdog);
fake.kill('SIGTERM');
receiver.stdin.end();
await Promise.all([fake.exitPromise, receiver.exitPromise]);
fs.rmSync(work, { recursive: true, force: true });
const failed = results.filter((r) => !r).length;
console.log(`${results.length - failed}/${results.length} passed`);
process.exit(failed ? 1 : 0);
