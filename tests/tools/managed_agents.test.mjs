// Managed Agents sessions through bt-proxy, driven by the official SDK's
// client.beta.sessions (create, events.send, events.stream, events.list) against
// fake-anthropic's sessions: one trace per session, derived from its id; a task span per
// call; an llm span per model request the events report, with the usage the events carry;
// the session's root counts each model request once although the events were read twice
// (stream, then list).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  finish, sessionDerivedId, spanJsonAttr, startTool, stopProxy, test, watchdog,
} from '../support/proxy_harness.mjs';

const require = createRequire(path.join(process.env.NODE_PATH, '..', 'clients.cjs'));
const { Anthropic } = require('@anthropic-ai/sdk');

const TMP = process.env.BT_TEST_TMPDIR || os.tmpdir();
const KEY = 'sk-ant-api03-CANARY-managed-agents-42';
const timer = watchdog(60000, 'managed agents test');

const jsonl = path.join(TMP, `managed-agents-${process.pid}.jsonl`);
fs.rmSync(jsonl, { force: true });
const fake = await startTool('fake-anthropic', ['--listen', '127.0.0.1:0', '--pace-ms', '0']);
const proxy = await startTool('bt-proxy', ['--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${fake.port}`, '--spans-jsonl', jsonl],
  { BRAINTRUST_API_KEY: '', OTEL_EXPORTER_OTLP_ENDPOINT: '' });
const client = new Anthropic({ apiKey: KEY, baseURL: `http://127.0.0.1:${proxy.port}`, maxRetries: 0 });

let session, streamed = [], listed = [];
await test('the SDK runs a session through the proxy: create, send, stream, list', async () => {
  session = await client.beta.sessions.create({ agent: 'agent_support', environment_id: 'env_1', metadata: { ticket: '1234' } });
  assert.match(session.id, /^sesn_/);
  await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.message', content: [{ type: 'text', text: 'Where is my order?' }] }] });
  await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.message', content: [{ type: 'text', text: 'Thanks!' }] }] });
  for await (const ev of await client.beta.sessions.events.stream(session.id)) streamed.push(ev);
  for await (const ev of client.beta.sessions.events.list(session.id)) listed.push(ev);
  assert.ok(streamed.some((e) => e.type === 'agent.message' && e.content[0].text.includes('Where is my order?')));
  assert.deepEqual(listed.map((e) => e.id), streamed.map((e) => e.id));
});
await stopProxy(proxy);
await stopProxy(fake);

const spans = fs.readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
await test('one trace for the session, its calls and its model requests under the root', async () => {
  const traceId = sessionDerivedId('braintrust:session:trace', session.id, 16);
  const rootId = sessionDerivedId('braintrust:session:root', session.id, 8);
  for (const s of spans) assert.equal(s.traceId, traceId, s.name);
  const names = spans.map((s) => s.name);
  for (const n of ['anthropic.beta.sessions.create', 'anthropic.beta.sessions.events.send', 'anthropic.beta.sessions.events.stream',
    'anthropic.beta.sessions.events.list', 'anthropic.beta.sessions.model_request', 'agent.session']) assert.ok(names.includes(n), n);
  for (const s of spans.filter((x) => x.name !== 'agent.session')) assert.equal(s.parentSpanId, rootId, s.name);
  const create = spans.find((s) => s.name === 'anthropic.beta.sessions.create');
  assert.equal(spanJsonAttr(create, 'braintrust.metadata').model, 'claude-opus-5-5');
  assert.equal(spanJsonAttr(create, 'braintrust.input_json').agent, 'agent_support');
  assert.ok(!fs.readFileSync(jsonl, 'utf8').includes(KEY), 'API key in a span');
});

await test('model requests: the events\' turns, replies and usage, each once', async () => {
  const ends = streamed.filter((e) => e.type === 'span.model_request_end');
  assert.equal(ends.length, 2);
  const requests = spans.filter((s) => s.name === 'anthropic.beta.sessions.model_request');
  // read twice (stream and list), emitted twice with the same ids
  assert.equal(new Set(requests.map((s) => s.spanId)).size, 2);
  const first = requests.find((s) => spanJsonAttr(s, 'braintrust.metadata').model_request_start_id === ends[0].model_request_start_id);
  assert.deepEqual(spanJsonAttr(first, 'braintrust.input_json'), [{ role: 'user', content: [{ type: 'text', text: 'Where is my order?' }] }]);
  const out = spanJsonAttr(first, 'braintrust.output_json');
  assert.deepEqual(out.content.map((b) => b.type), ['thinking', 'text']);
  const mu = ends[0].model_usage;
  const m = spanJsonAttr(first, 'braintrust.metrics');
  assert.equal(m.prompt_tokens, mu.input_tokens + mu.cache_creation_input_tokens + mu.cache_read_input_tokens);
  assert.equal(m.completion_tokens, mu.output_tokens);
  const root = spans.filter((s) => s.name === 'agent.session').at(-1);
  const md = spanJsonAttr(root, 'braintrust.metadata');
  assert.equal(md.session_source, 'managed_agents');
  assert.equal(md.llm_calls, 2);
  const sum = (k) => ends.reduce((n, e) => n + e.model_usage[k], 0);
  assert.equal(md.prompt_tokens, sum('input_tokens') + sum('cache_creation_input_tokens') + sum('cache_read_input_tokens'));
  assert.equal(md.completion_tokens, sum('output_tokens'));
  const stream = spans.find((s) => s.name === 'anthropic.beta.sessions.events.stream');
  assert.deepEqual(spanJsonAttr(stream, 'braintrust.output_json'), { events: streamed.length, model_requests: 2, tool_calls: 0, last_status: 'idle' });
});

clearTimeout(timer);
fs.rmSync(jsonl, { force: true });
finish('Managed Agents checks');
