// bt-proxy's start and stop as an operator sees them: a tracing configuration it cannot
// use stops it at startup with the variable, the value and the reason (unless
// --allow-untraced), the log says where spans go, and at shutdown a stream the proxy
// itself cuts (grace period over, or a second signal) is named for that in its span and
// its access-log line, never "client cancelled"/499; the last line says what became of
// the spans. Services run on loopback and are always stopped.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const BUILD = process.env.BT_BUILD_DIR;
const TMP = process.env.BT_TEST_TMPDIR || '/tmp';
const children = new Set();
const killAll = () => { for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } } };
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(1); });
const watchdog = setTimeout(() => { console.error('proxy_lifecycle test: watchdog expired'); killAll(); process.exit(1); }, 240000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const cleanEnv = { OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '', BRAINTRUST_API_KEY: '', OTEL_SDK_DISABLED: '', BT_STORE_PATH: '' };

function start(bin, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(BUILD, bin), args, { env: { ...process.env, ...cleanEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.stderrText = '';
    child.stderr.on('data', (d) => { child.stderrText += d; });
    child.exitPromise = new Promise((r) => child.on('exit', (code, signal) => { children.delete(child); r({ code, signal }); }));
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

// Waits (bounded) until `re` appears in the child's log.
async function logged(child, re, tries = 300) {
  for (let i = 0; i < tries; i++) {
    if (re.test(child.stderrText)) return;
    await sleep(50);
  }
  throw new Error(`not logged: ${re}\n${child.stderrText.slice(-2000)}`);
}

const H = { 'x-api-key': 'sk-ant-lifecycle-key', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
const streamBody = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 400, stream: true, messages: [{ role: 'user', content: 'a long answer please '.repeat(20) }] });

// Starts a stream through the proxy; resolves once its first bytes arrived, with a
// promise of how it ended ('complete' or 'cut').
function startStream(port) {
  return new Promise((resolveStarted, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/messages', headers: H, agent: false }, (res) => {
      const ended = new Promise((r) => {
        res.on('end', () => r('complete'));
        res.on('aborted', () => r('cut'));
        res.on('error', () => r('cut'));
        req.on('error', () => r('cut'));
      });
      res.once('data', () => resolveStarted({ ended }));
      res.on('data', () => {});
    });
    req.on('error', reject);
    req.end(streamBody);
  });
}

const results = [];
async function test(name, fn) {
  try { await fn(); results.push(true); console.log(`ok - ${name}`); } catch (e) {
    results.push(false);
    console.log(`not ok - ${name}\n  ${String(e && e.stack || e).split('\n').slice(0, 8).join('\n  ')}`);
  }
}

fs.mkdirSync(TMP, { recursive: true });
const work = fs.mkdtempSync(path.join(TMP, 'lifecycle-'));
const fake = await start('fake-anthropic', ['--listen', '127.0.0.1:0', '--pace-ms', '200']);
const UP = `http://127.0.0.1:${fake.port}`;
const spansOf = (file) => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const attr = (span, key) => { const a = (span.attributes || []).find((x) => x.key === key); return a && a.value.stringValue; };

await test('a bad tracing setting stops the proxy at startup with the variable, the value and the reason', () => {
  const r = spawnSync(path.join(BUILD, 'bt-proxy'), ['--listen', '127.0.0.1:0', '--upstream', UP],
    { env: { ...process.env, ...cleanEnv, OTEL_EXPORTER_OTLP_ENDPOINT: 'not-a-url' }, encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /refusing to start: .*OTEL_EXPORTER_OTLP_ENDPOINT="not-a-url": not an http\(s\) URL with a host.*--allow-untraced/);
  const k = spawnSync(path.join(BUILD, 'bt-proxy'), ['--listen', '127.0.0.1:0', '--upstream', UP],
    { env: { ...process.env, ...cleanEnv, BRAINTRUST_API_KEY: 'sk-secret-in-key\r\nx' }, encoding: 'utf8', timeout: 20000 });
  assert.equal(k.status, 2, k.stderr);
  assert.match(k.stderr, /BRAINTRUST_API_KEY \(value withheld\): contains control characters/);
  assert.ok(!k.stderr.includes('sk-secret-in-key'), 'a secret reached the log');
});

await test('--allow-untraced: it forwards untraced and says so, in the log and in /metrics', async () => {
  const p = await start('bt-proxy', ['--listen', '127.0.0.1:0', '--upstream', UP, '--allow-untraced'], { OTEL_EXPORTER_OTLP_ENDPOINT: 'not-a-url' });
  assert.match(p.stderrText, /tracing is OFF: the tracing configuration in the environment is invalid; requests are forwarded untraced/);
  const m = await new Promise((resolve) => http.get({ host: '127.0.0.1', port: p.port, path: '/metrics', headers: { accept: 'application/json' } }, (res) => {
    let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => resolve(JSON.parse(b)));
  }));
  assert.equal(m.tracing_enabled, false);
  p.kill('SIGTERM');
  assert.deepEqual(await p.exitPromise, { code: 0, signal: null });
  assert.match(p.stderrText.trim().split('\n').at(-1), /stopped: \d+ request\(s\); tracing was off/);
});

await test('--help tells how shutdown works and where spans go', () => {
  const r = spawnSync(path.join(BUILD, 'bt-proxy'), ['--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /first SIGTERM or SIGINT/);
  assert.match(r.stdout, /A second signal cuts them at once/);
  assert.match(r.stdout, /--shutdown-grace SECONDS/);
  assert.match(r.stdout, /where spans go/);
  assert.match(r.stdout, /--allow-untraced/);
});

await test('grace period over: the stream is cut, and its span and log line say the proxy cut it', async () => {
  const spans = path.join(work, 'grace.jsonl');
  const p = await start('bt-proxy', ['--listen', '127.0.0.1:0', '--upstream', UP, '--spans-jsonl', spans, '--shutdown-grace', '1']);
  assert.match(p.stderrText, new RegExp(`spans go to the JSONL file ${spans.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const { ended } = await startStream(p.port);
  p.kill('SIGTERM');
  assert.equal(await ended, 'cut');
  assert.deepEqual(await p.exitPromise, { code: 0, signal: null }, p.stderrText.slice(-2000));
  assert.match(p.stderrText, /shutdown: signal 15, finishing 1 request\(s\) for up to 1 s \(a second signal cuts them now\)/);
  assert.match(p.stderrText, /shutdown: the 1 s grace period ended, cutting 1 connection\(s\)/);
  assert.match(p.stderrText, /"POST \/v1\/messages" 200 .*cut by the proxy at shutdown \(the 1 s grace period ended\)/);
  assert.ok(!/ 499 |client went away/.test(p.stderrText), 'logged as if the client had left');
  const [span] = spansOf(spans);
  assert.equal(span.status.message, 'aborted: cut by the proxy at shutdown (the 1 s grace period ended)');
  assert.equal(attr(span, 'error.type'), 'aborted');
  assert.match(p.stderrText.trim().split('\n').at(-1), /stopped: 1 request\(s\); spans: 1 ended, 1 reached the JSONL file .*; 0 dropped/);
});

await test('a second signal cuts at once, and says so', async () => {
  const spans = path.join(work, 'second.jsonl');
  const p = await start('bt-proxy', ['--listen', '127.0.0.1:0', '--upstream', UP, '--spans-jsonl', spans, '--shutdown-grace', '13']);
  const { ended } = await startStream(p.port);
  p.kill('SIGINT');
  await logged(p, /shutdown: signal 2, finishing 1 request/);
  p.kill('SIGINT');
  assert.equal(await ended, 'cut');
  assert.deepEqual(await p.exitPromise, { code: 0, signal: null }, p.stderrText.slice(-2000));
  assert.match(p.stderrText, /shutdown: a second signal, cutting 1 connection\(s\)/);
  const [span] = spansOf(spans);
  assert.equal(span.status.message, 'aborted: cut by the proxy at shutdown (a second signal)');
  assert.ok(!/grace period ended/.test(p.stderrText));
});

clearTimeout(watchdog);
fake.kill('SIGTERM');
await fake.exitPromise;
fs.rmSync(work, { recursive: true, force: true });
const failed = results.filter((r) => !r).length;
console.log(`${results.length - failed}/${results.length} passed`);
process.exit(failed ? 1 : 0);
