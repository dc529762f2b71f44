// The official @anthropic-ai/sdk against fake-anthropic, once directly and once through
// bt-proxy, must get identical results: messages, tool use, streams (event by event),
// count_tokens, an API error, and every batch method including results. The proxy's
// spans go to its store, which spools them to a loopback OTLP receiver; both copies are
// checked (names, parent/child, the batch trace with one child per custom_id), and the
// canary API key appears nowhere in the spans, the proxy's log or the store file.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';

const require = createRequire(path.join(process.env.NODE_PATH, '..', 'clients.cjs'));
const { Anthropic } = require('@anthropic-ai/sdk');

const BUILD = process.env.BT_BUILD_DIR;
const SRC = process.env.BT_SOURCE_DIR;
fs.mkdirSync(process.env.BT_TEST_TMPDIR, { recursive: true });
const WORK = fs.mkdtempSync(path.join(process.env.BT_TEST_TMPDIR, 'sdk-'));
const STORE = path.join(WORK, 'spans.db');
const CANARY = 'sk-ant-api03-CANARY-do-not-leak-7f3a9c1e5b';

const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(WORK, { recursive: true, force: true });
});
// Bounded: a hang fails the test instead of waiting for the ctest timeout.
setTimeout(() => { console.log('not ok - watchdog: test took over 240 s'); process.exit(1); }, 240000).unref();

// Starts a program that prints a line matching `ready` (on stdout or stderr).
function start(cmd, args, ready, env = {}) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start: ${child.log}`)), 15000);
    child.on('exit', (code) => reject(new Error(`${cmd} exited early (${code}): ${child.log}`)));
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on('line', (l) => {
        child.log += l + '\n';
        const m = ready.exec(l);
        if (m) { clearTimeout(timer); resolve({ child, match: m }); }
      });
    }
  });
}

async function stop(child) {
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
  child.kill('SIGTERM');
  const r = await exited;
  children.delete(child);
  return r;
}

const LISTEN = /listening on (http:\/\/127\.0\.0\.1:\d+)/;
const recv = await start('node', [path.join(SRC, 'tests/node/otlp-receiver.mjs'), '--lifetime', '230'], /^\{"otlp":(\d+),"control":(\d+)\}/);
const OTLP = `http://127.0.0.1:${recv.match[1]}`;
const CONTROL = `http://127.0.0.1:${recv.match[2]}`;
const fakeArgs = ['--listen', '127.0.0.1:0', '--pace-ms', '1', '--batch-polls', '2'];
const fakeDirect = await start(path.join(BUILD, 'fake-anthropic'), fakeArgs, LISTEN);
const fakeBehind = await start(path.join(BUILD, 'fake-anthropic'), fakeArgs, LISTEN);
const proxy = await start(path.join(BUILD, 'bt-proxy'),
  ['--listen', '127.0.0.1:0', '--upstream', fakeBehind.match[1], '--store', STORE], LISTEN,
  { OTEL_EXPORTER_OTLP_ENDPOINT: OTLP, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '', BRAINTRUST_API_KEY: '',
    OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_SERVICE_NAME: 'sdk-e2e' });

const MODEL = 'claude-haiku-4-5';
const WEATHER = {
  name: 'get_weather', description: 'Weather for a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const ask = (content, extra = {}) => ({ model: MODEL, max_tokens: 128, messages: [{ role: 'user', content }], ...extra });

// Everything a user's program would see, in order.
async function scenario(baseURL) {
  const client = new Anthropic({ apiKey: CANARY, baseURL, maxRetries: 0, timeout: 30000 });
  const out = {};
  out.message = await client.messages.create(ask('What is the capital of France?', { system: 'Be brief.' }));
  out.toolUse = await client.messages.create(ask('Weather in Paris?', { tools: [WEATHER] }));
  const stream = client.messages.stream(ask('Weather in Oslo?', { tools: [WEATHER] }));
  out.streamEvents = [];
  stream.on('streamEvent', (e) => out.streamEvents.push(e));
  out.streamFinal = await stream.finalMessage();
  out.rawStream = [];
  for await (const e of await client.messages.create(ask('Tell me a story.', { stream: true }))) out.rawStream.push(e);
  out.countTokens = await client.messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'Count me' }] });
  out.error = await client.messages.create(ask('fail', { model: 'fake-error-529' })).then(
    () => 'no error', (e) => ({ status: e.status, body: e.error }));

  const requests = ['alpha', 'beta', 'errored-gamma'].map((id) => ({ custom_id: id, params: ask(`Question ${id}`) }));
  out.batchCreate = await client.messages.batches.create({ requests });
  const id = out.batchCreate.id;
  out.batchPolls = [];
  for (let i = 0; i < 20; i++) {
    const b = await client.messages.batches.retrieve(id);
    out.batchPolls.push(b);
    if (b.processing_status === 'ended') break;
  }
  assert.equal(out.batchPolls.at(-1).processing_status, 'ended', 'the batch ends');
  out.batchList = [];
  for await (const b of client.messages.batches.list({ limit: 10 })) out.batchList.push(b);
  out.batchResults = [];
  for await (const line of await client.messages.batches.results(id)) out.batchResults.push(line);
  const other = await client.messages.batches.create({ requests: [{ custom_id: 'to-cancel', params: ask('never') }] });
  out.batchCancel = await client.messages.batches.cancel(other.id);
  out.batchDelete = await client.messages.batches.delete(id);
  out.afterDelete = await client.messages.batches.retrieve(id).then(() => 'found', (e) => e.status);
  return out;
}

// Fields that legitimately differ between two runs: wall-clock times, and results_url,
// which the proxy rewrites to point at itself (so that results are traced).
function normalize(v, base) {
  if (Array.isArray(v)) return v.map((x) => normalize(x, base));
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) {
      if (/_at$/.test(k) && typeof x === 'string') o[k] = 'TIME';
      else if (k === 'results_url' && typeof x === 'string') o[k] = x.replace(base, 'BASE');
      else o[k] = normalize(x, base);
    }
    return o;
  }
  return v;
}

let failures = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failures++;
    console.log(`not ok - ${name}\n  ${String(e && e.stack ? e.stack : e).split('\n').join('\n  ')}`);
  }
}

const direct = await scenario(fakeDirect.match[1]);
const viaProxy = await scenario(proxy.match[1]);

await check('identical results directly and through bt-proxy', () => {
  assert.equal(viaProxy.batchPolls.at(-1).results_url, `${proxy.match[1]}/v1/messages/batches/${viaProxy.batchCreate.id}/results`,
    'results_url points at the proxy');
  assert.deepEqual(normalize(viaProxy, proxy.match[1]), normalize(direct, fakeDirect.match[1]));
  assert.equal(direct.error.status, 529);
  assert.equal(direct.toolUse.content.find((b) => b.type === 'tool_use').name, 'get_weather');
  assert.equal(direct.batchResults.length, 3);
  // The comparison covers real content, not empty lists.
  assert.ok(direct.streamEvents.length > 5 && direct.rawStream.length > 3, 'streams carried events');
  assert.ok(direct.streamEvents.some((e) => e.type === 'content_block_delta' && e.delta.type === 'input_json_delta'));
  assert.ok(direct.batchList.length >= 1 && direct.batchCancel.processing_status !== undefined);
  assert.equal(direct.batchDelete.type, 'message_batch_deleted');
  assert.equal(direct.afterDelete, 404);
});

const stopped = await stop(proxy.child);
await check('bt-proxy exits cleanly on SIGTERM', () => assert.deepEqual(stopped, { code: 0, sig: null }));

// The store spools to the receiver; wait (bounded) until it has everything.
async function received() {
  const reqs = await (await fetch(`${CONTROL}/requests`)).json();
  return { reqs, spans: reqs.flatMap((r) => r.spans) };
}
function bt(...args) {
  return JSON.parse(execFileSync(path.join(BUILD, 'bt-spans'), ['--store', STORE, '--json', ...args], { encoding: 'utf8' }));
}
const storeSpans = [];
for (const t of bt('list', '--limit', '1000')) {
  const walk = (s) => { storeSpans.push({ ...s, trace_id: t.trace_id }); s.children.forEach(walk); };
  bt('show', t.trace_id).roots.forEach(walk);
}
let got = await received();
for (let i = 0; i < 50 && got.spans.length < storeSpans.length; i++) {
  await new Promise((r) => setTimeout(r, 100));
  got = await received();
}

await check('store and OTLP receiver hold the same spans, each once', () => {
  assert.ok(storeSpans.length >= 17, `spans in the store: ${storeSpans.length}`);
  const ids = got.spans.map((s) => s.spanId);
  assert.equal(new Set(ids).size, ids.length, 'no span received twice');
  assert.deepEqual([...ids].sort(), storeSpans.map((s) => s.span_id).sort());
  assert.deepEqual(got.reqs.flatMap((r) => r.problems), []);
  assert.ok(got.spans.every((s) => s.resource['service.name'].stringValue === 'sdk-e2e'));
});

await check('span names cover every call', () => {
  const names = new Set(got.spans.map((s) => s.name));
  for (const n of ['anthropic.messages.create', 'anthropic.messages.stream', 'anthropic.messages.count_tokens',
    'anthropic.messages.batches.create', 'anthropic.messages.batches.retrieve', 'anthropic.messages.batches.list',
    'anthropic.messages.batches.results', 'anthropic.messages.batches.cancel', 'anthropic.messages.batches.delete',
    'anthropic.batch']) assert.ok(names.has(n), `missing span ${n}; have ${[...names].join(', ')}`);
  const err = got.spans.find((s) => s.status.code === 2 && s.name === 'anthropic.messages.create' &&
    JSON.parse(s.attributes['braintrust.metadata'].stringValue).model === 'fake-error-529');
  assert.ok(err, 'the 529 call is an error span');
  const stream = got.spans.find((s) => s.name === 'anthropic.messages.stream');
  const output = JSON.parse(stream.attributes['braintrust.output_json'].stringValue);
  assert.ok(output.content.some((b) => b.type === 'tool_use' && b.name === 'get_weather'), 'stream output keeps the tool call');
});

await check('batch trace: one child per custom_id, in the receiver and in the store', () => {
  const batch = got.spans.filter((s) => s.name === 'anthropic.batch');
  assert.equal(batch.length, 1);
  const kids = got.spans.filter((s) => s.traceId === batch[0].traceId && s.spanId !== batch[0].spanId);
  assert.equal(kids.length, 3);
  assert.ok(kids.every((k) => k.parentSpanId === batch[0].spanId && k.name === 'anthropic.messages.create'));
  assert.equal(kids.filter((k) => k.status.code === 2).length, 1, 'errored-gamma is an error span');
  const inputs = kids.map((k) => JSON.parse(k.attributes['braintrust.input_json'].stringValue)[0].content).sort();
  assert.deepEqual(inputs, ['Question alpha', 'Question beta', 'Question errored-gamma']);
  const tree = bt('show', batch[0].traceId);
  assert.equal(tree.roots.length, 1);
  assert.equal(tree.roots[0].name, 'anthropic.batch');
  assert.equal(tree.roots[0].children.length, 3);
});

await check('the canary API key appears nowhere', () => {
  const spansText = JSON.stringify(got.reqs);
  assert.ok(!spansText.includes(CANARY), 'in the OTLP requests');
  assert.ok(!spansText.toLowerCase().includes('x-api-key'), 'no x-api-key attribute');
  assert.ok(!proxy.child.log.includes(CANARY), 'in the proxy log');
  for (const f of fs.readdirSync(WORK).filter((n) => n.startsWith('spans.db'))) {
    assert.ok(!fs.readFileSync(path.join(WORK, f)).includes(Buffer.from(CANARY)), `in ${f}`);
  }
  assert.ok(!storeSpans.some((s) => JSON.stringify(s).includes(CANARY)));
});

for (const c of [fakeDirect.child, fakeBehind.child]) await stop(c);
recv.child.stdin.end();
children.delete(recv.child);
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
