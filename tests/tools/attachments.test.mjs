// Attachments end to end: base64 images and documents in a Messages request become
// Braintrust attachment references in the span's input, and their bytes go
//   - to Braintrust through its attachment API (login, POST /attachment for a signed URL,
//     PUT to the object store, POST /attachment/status), here a stand-in of that API on
//     loopback with a separate "object store" server; the same image sent again is not
//     uploaded twice, the API key never reaches the object store;
//   - through the store when it is the spool in front of Braintrust (uploaded when
//     shipped);
//   - into the local store without an exporter, where `bt-spans attachment` writes them
//     back out byte for byte.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { finish, startTool, stopProxy, test, watchdog } from '../support/proxy_harness.mjs';

const BUILD = process.env.BT_BUILD_DIR;
const TMP = process.env.BT_TEST_TMPDIR || os.tmpdir();
const KEY = 'sk-ant-api03-CANARY-attachments-0000';
const BT_KEY = 'bt-key-CANARY-attachments-1111';
const timer = watchdog(120000, 'attachments test');

const run = (file, args) => new Promise((resolve) => {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = [], err = [];
  child.stdout.on('data', (d) => out.push(d));
  child.stderr.on('data', (d) => err.push(d));
  child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
});

// ---- the stand-in of Braintrust's API and of its object store --------------------------
const seen = { login: [], attachment: [], status: [], puts: [], traces: [] };
const readBody = (req) => new Promise((r) => { const c = []; req.on('data', (d) => c.push(d)); req.on('end', () => r(Buffer.concat(c))); });
let storeStatus = 200;
const store = http.createServer(async (req, res) => {
  const body = await readBody(req);
  seen.puts.push({ method: req.method, url: req.url, headers: req.headers, body });
  res.writeHead(storeStatus); res.end();
});
await new Promise((r) => store.listen(0, '127.0.0.1', r));
const api = http.createServer(async (req, res) => {
  const body = await readBody(req);
  const auth = req.headers.authorization;
  if (auth !== `Bearer ${BT_KEY}`) { res.writeHead(401); res.end('{}'); return; }
  if (req.url === '/api/apikey/login') {
    seen.login.push(1);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ org_info: [{ id: 'org-standin', name: 'stand-in' }] }));
  } else if (req.url === '/attachment') {
    const j = JSON.parse(body);
    seen.attachment.push(j);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ signedUrl: `http://127.0.0.1:${store.address().port}/bucket/${j.key}?X-Signature=secret-sig`, headers: { 'x-amz-meta-origin': 'standin' } }));
  } else if (req.url === '/attachment/status') {
    seen.status.push(JSON.parse(body));
    res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}');
  } else if (req.url === '/otel/v1/traces') {
    seen.traces.push(JSON.parse(body));
    res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}');
  } else { res.writeHead(404); res.end(); }
});
await new Promise((r) => api.listen(0, '127.0.0.1', r));
const API = `http://127.0.0.1:${api.address().port}`;

// ---- traffic ---------------------------------------------------------------------------
const png = crypto.randomBytes(3000); // bytes are bytes: the tracer does not look inside
const pdf = Buffer.concat([Buffer.from('%PDF-1.0\n'), crypto.randomBytes(5000)]);
const b64png = png.toString('base64'), b64pdf = pdf.toString('base64');
const body = (text) => JSON.stringify({
  model: 'claude-haiku-4-5', max_tokens: 50,
  messages: [{ role: 'user', content: [
    { type: 'text', text },
    { type: 'image', source: { type: 'base64', media_type: 'image/png', data: b64png } },
    { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: b64pdf }, title: 'notes' },
  ] }],
});
async function post(port, b) {
  const r = await fetch(`http://127.0.0.1:${port}/v1/messages`, { method: 'POST', body: b,
    headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' } });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text);
}
const spanInputs = (traces) => traces.flatMap((t) => t.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)))
  .map((s) => JSON.parse(s.attributes.find((a) => a.key === 'braintrust.input_json').value.stringValue));
const refsOf = (input) => input[0].content.filter((b) => b.source).map((b) => b.source);

const dir = fs.mkdtempSync(path.join(TMP, 'attachments-'));
const fake = await startTool('fake-anthropic', ['--listen', '127.0.0.1:0', '--pace-ms', '0']);
const up = `http://127.0.0.1:${fake.port}`;

await test('exporting to Braintrust: references in the span, bytes uploaded through the attachment API', async () => {
  const proxy = await startTool('bt-proxy', ['--listen', '127.0.0.1:0', '--upstream', up],
    { BRAINTRUST_API_KEY: BT_KEY, BRAINTRUST_API_URL: API, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_BSP_SCHEDULE_DELAY: '50' });
  await post(proxy.port, body('first'));
  await post(proxy.port, body('second: the same image and document again'));
  await stopProxy(proxy);
  const inputs = spanInputs(seen.traces);
  assert.equal(inputs.length, 2);
  const raw = JSON.stringify(seen.traces);
  assert.ok(!raw.includes(b64png.slice(0, 200)) && !raw.includes(b64pdf.slice(0, 200)), 'base64 left in the span');
  const refs = refsOf(inputs[0]);
  assert.deepEqual(refs.map((r) => [r.type, r.content_type, r.filename]),
    [['braintrust_attachment', 'image/png', 'image.png'], ['braintrust_attachment', 'application/pdf', 'document.pdf']]);
  for (const r of refs) assert.match(r.key, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(refsOf(inputs[1]), refs, 'the same content, the same keys');
  // the protocol, once per attachment: the repeat was not uploaded again
  assert.equal(seen.login.length, 1);
  assert.deepEqual(seen.attachment.map((a) => [a.key, a.filename, a.content_type, a.org_id]),
    refs.map((r) => [r.key, r.filename, r.content_type, 'org-standin']));
  assert.equal(seen.puts.length, 2);
  const bytesOf = { 'image/png': png, 'application/pdf': pdf };
  for (const [i, p] of seen.puts.entries()) {
    assert.equal(p.method, 'PUT');
    assert.equal(p.url, `/bucket/${refs[i].key}?X-Signature=secret-sig`);
    assert.equal(p.headers['content-type'], refs[i].content_type);
    assert.equal(p.headers['x-amz-meta-origin'], 'standin');
    assert.equal(p.headers.authorization, undefined, 'the API key went to the object store');
    assert.ok(p.body.equals(bytesOf[refs[i].content_type]), 'bytes differ');
  }
  assert.deepEqual(seen.status.map((s) => [s.key, s.org_id, s.status.upload_status]),
    refs.map((r) => [r.key, 'org-standin', 'done']));
  assert.ok(!proxy.stderrText.includes('secret-sig') && !proxy.stderrText.includes(BT_KEY), 'secret in the log');
});

await test('the store as a spool in front of Braintrust: attachments uploaded when the spans are shipped', async () => {
  for (const k of Object.keys(seen)) seen[k] = [];
  const db = path.join(dir, 'spool.db');
  const proxy = await startTool('bt-proxy', ['--listen', '127.0.0.1:0', '--upstream', up, '--store', db],
    { BRAINTRUST_API_KEY: BT_KEY, BRAINTRUST_API_URL: API, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_BSP_SCHEDULE_DELAY: '50' });
  await post(proxy.port, body('spooled'));
  await stopProxy(proxy);
  const refs = refsOf(spanInputs(seen.traces)[0]);
  assert.deepEqual(seen.puts.map((p) => p.url.split('?')[0]), refs.map((r) => `/bucket/${r.key}`));
  assert.ok(seen.puts[0].body.equals(png));
  assert.deepEqual(seen.status.map((s) => s.status.upload_status), ['done', 'done']);
});

await test('an upload that fails is reported as failed, and the span is sent all the same', async () => {
  for (const k of Object.keys(seen)) seen[k] = [];
  storeStatus = 403;
  const proxy = await startTool('bt-proxy', ['--listen', '127.0.0.1:0', '--upstream', up],
    { BRAINTRUST_API_KEY: BT_KEY, BRAINTRUST_API_URL: API, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_BSP_SCHEDULE_DELAY: '50' });
  await post(proxy.port, body('refused by the object store'));
  await stopProxy(proxy);
  storeStatus = 200;
  assert.equal(seen.puts.length, 2);
  assert.deepEqual(seen.status.map((x) => x.status.upload_status), ['error', 'error']);
  assert.match(seen.status[0].status.error_message, /HTTP 403/);
  assert.equal(spanInputs(seen.traces).length, 1, 'the span was not sent');
  assert.match(proxy.stderrText, /not uploaded: the object store at 127\.0\.0\.1:\d+ answered HTTP 403/);
  assert.ok(!proxy.stderrText.includes('secret-sig'), 'signed URL in the log');
});

await test('the local store keeps them: bt-spans attachment writes the bytes back out', async () => {
  const db = path.join(dir, 'local.db'), jsonl = path.join(dir, 'local.jsonl');
  const proxy = await startTool('bt-proxy', ['--listen', '127.0.0.1:0', '--upstream', up, '--store', db, '--spans-jsonl', jsonl],
    { BRAINTRUST_API_KEY: '', OTEL_EXPORTER_OTLP_ENDPOINT: '' });
  await post(proxy.port, body('kept locally'));
  await stopProxy(proxy);
  const span = JSON.parse(fs.readFileSync(jsonl, 'utf8').trim().split('\n')[0]);
  const input = JSON.parse(span.attributes.find((a) => a.key === 'braintrust.input_json').value.stringValue);
  const refs = refsOf(input);
  assert.equal(refs.length, 2);
  for (const [r, bytes] of [[refs[0], png], [refs[1], pdf]]) {
    const out = path.join(dir, r.filename);
    const w = await run(path.join(BUILD, 'bt-spans'), ['--store', db, 'attachment', r.key, '-o', out]);
    assert.equal(w.code, 0, w.stderr);
    assert.ok(fs.readFileSync(out).equals(bytes), `${r.filename} differs`);
    const meta = JSON.parse((await run(path.join(BUILD, 'bt-spans'), ['--store', db, '--json', 'attachment', r.key])).stdout);
    assert.equal(meta.content_type, r.content_type);
    assert.equal(meta.size, bytes.length);
    assert.equal(meta.trace_id, span.traceId);
  }
  const missing = await run(path.join(BUILD, 'bt-spans'), ['--store', db, 'attachment', '00000000-0000-4000-8000-000000000000']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no attachment/);
});

await test('without a sink that keeps attachments (a JSONL file only), the data stays inline', async () => {
  const jsonl = path.join(dir, 'spans.jsonl');
  const proxy = await startTool('bt-proxy', ['--listen', '127.0.0.1:0', '--upstream', up, '--spans-jsonl', jsonl],
    { BRAINTRUST_API_KEY: '', OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_SDK_DISABLED: '' });
  await post(proxy.port, body('inline'));
  await stopProxy(proxy);
  const span = JSON.parse(fs.readFileSync(jsonl, 'utf8').trim().split('\n')[0]);
  const input = JSON.parse(span.attributes.find((a) => a.key === 'braintrust.input_json').value.stringValue);
  assert.equal(refsOf(input)[0].data, b64png);
});

await stopProxy(fake);
clearTimeout(timer);
api.close();
store.close();
fs.rmSync(dir, { recursive: true, force: true });
finish('attachment checks');
