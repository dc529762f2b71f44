// End-to-end test of fake-anthropic: raw HTTP with node's fetch (wire details: event
// order, padding, headers, gzip, error bodies) and the official @anthropic-ai/sdk
// (messages, streams, count_tokens, errors, the whole batch lifecycle).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import http from 'node:http';
import readline from 'node:readline';

import { fixturesPresent, skippedWithoutFixtures } from '../support/conformance.mjs';

const require = createRequire(path.join(process.env.NODE_PATH, '..', 'clients.cjs'));
const { Anthropic } = require('@anthropic-ai/sdk');

const BIN = path.join(process.env.BT_BUILD_DIR, 'fake-anthropic');
const children = new Set();
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });
// Bounded: a hang fails the test instead of waiting for the ctest timeout.
setTimeout(() => { console.log('not ok - watchdog: test took over 180 s'); process.exit(1); }, 180000).unref();

async function startFake(args = []) {
  const child = spawn(BIN, ['--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.stderrText = '';
  child.stderr.on('data', (d) => { child.stderrText += d; });
  const lines = readline.createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('fake-anthropic did not start')), 10000);
    child.on('exit', (code) => reject(new Error(`fake-anthropic exited early (${code}): ${child.stderrText}`)));
    lines.on('line', (l) => {
      const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(l);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
  });
  return { child, url };
}

async function stopFake(child) {
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
  child.kill('SIGTERM');
  const { code, sig } = await exited;
  children.delete(child);
  assert.equal(sig, null, `fake-anthropic died by ${sig}: ${child.stderrText}`);
  assert.equal(code, 0, `fake-anthropic exit ${code}: ${child.stderrText}`);
}

const KEY = 'sk-ant-test-canary-0123456789';
const HEADERS = { 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
const msgBody = (extra = {}) => ({
  model: 'claude-haiku-4-5', max_tokens: 200,
  messages: [{ role: 'user', content: 'What is the capital of France?' }], ...extra,
});
const WEATHER_TOOL = {
  name: 'get_weather', description: 'Weather for a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer' } }, required: ['city'] },
};

function parseSSE(text) {
  const events = [];
  for (const block of text.split('\n\n')) {
    if (!block.trim()) continue;
    const ev = {};
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) ev.event = line.slice(7);
      else if (line.startsWith('data: ')) ev.raw = line.slice(6);
    }
    ev.data = JSON.parse(ev.raw);
    events.push(ev);
  }
  return events;
}

async function post(url, pathName, body, headers = {}) {
  return fetch(url + pathName, { method: 'POST', headers: { ...HEADERS, ...headers }, body: JSON.stringify(body) });
}

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

let base;

test('messages JSON: echo content, dated model, usage, request-id', async () => {
  const res = await post(base, '/v1/messages', msgBody());
  assert.equal(res.status, 200);
  assert.match(res.headers.get('request-id'), /^req_fake_\d+$/);
  assert.equal(res.headers.get('content-type'), 'application/json');
  const m = await res.json();
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.equal(m.model, 'claude-haiku-4-5-20251001');
  assert.match(m.id, /^msg_/);
  assert.equal(m.content[0].type, 'text');
  assert.ok(m.content[0].text.includes('What is the capital of France?'));
  assert.equal(m.stop_reason, 'end_turn');
  assert.ok(m.usage.input_tokens > 0 && m.usage.output_tokens > 0);
  assert.equal(m.usage.service_tier, 'standard');
  // Deterministic: the same request gets the same content and usage.
  const again = await (await post(base, '/v1/messages', msgBody())).json();
  assert.deepEqual(again.content, m.content);
  assert.deepEqual(again.usage, m.usage);
  // Bigger input => more input tokens.
  const big = await (await post(base, '/v1/messages', msgBody({ system: 'x '.repeat(2000) }))).json();
  assert.ok(big.usage.input_tokens > m.usage.input_tokens + 500);
});

test('messages ?beta=true, array content and max_tokens cut', async () => {
  const res = await post(base, '/v1/messages?beta=true', msgBody({
    max_tokens: 3, system: [{ type: 'text', text: 'Be brief.' }],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'one two three four five six' }] }],
  }));
  assert.equal(res.status, 200);
  const m = await res.json();
  assert.equal(m.stop_reason, 'max_tokens');
  assert.equal(m.usage.output_tokens, 3);
  assert.equal(m.content[0].text.split(' ').length, 3);
});

test('SSE: real event order, padding, cumulative usage', async () => {
  const res = await post(base, '/v1/messages', msgBody({ stream: true }));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/event-stream/);
  assert.equal(res.headers.get('content-length'), null);
  const text = await res.text();
  const evs = parseSSE(text);
  const names = evs.map((e) => e.event);
  assert.deepEqual(names.slice(0, 3), ['message_start', 'content_block_start', 'ping']);
  assert.deepEqual(names.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
  assert.ok(names.filter((n) => n === 'content_block_delta').length >= 2);
  for (const e of evs) assert.equal(e.event, e.data.type);
  assert.equal(evs.find((e) => e.event === 'ping').raw, '{"type": "ping"}');
  const padded = evs.filter((e) => e.event !== 'ping');
  for (const e of padded) assert.match(e.raw, /[^ ] +}$/, `no padding in ${e.raw}`);
  const start = evs[0].data.message;
  assert.equal(start.stop_reason, null);
  assert.deepEqual(start.content, []);
  const text2 = evs.filter((e) => e.event === 'content_block_delta').map((e) => e.data.delta.text).join('');
  const delta = evs.find((e) => e.event === 'message_delta').data;
  assert.equal(delta.delta.stop_reason, 'end_turn');
  assert.ok(delta.usage.output_tokens >= start.usage.output_tokens);
  const json = await (await post(base, '/v1/messages', msgBody())).json();
  assert.equal(text2, json.content[0].text);
  assert.equal(delta.usage.output_tokens, json.usage.output_tokens);
  assert.equal(delta.usage.input_tokens, json.usage.input_tokens);
});

test('tool use: JSON block and streamed input_json_delta starting with ""', async () => {
  const body = msgBody({ tools: [WEATHER_TOOL], messages: [{ role: 'user', content: 'Weather in Paris?' }] });
  const m = await (await post(base, '/v1/messages', body)).json();
  assert.equal(m.stop_reason, 'tool_use');
  const tu = m.content.find((b) => b.type === 'tool_use');
  assert.equal(tu.name, 'get_weather');
  assert.match(tu.id, /^toolu_/);
  assert.deepEqual(tu.input, { city: 'fake city', unit: 'celsius', days: 42 });
  const evs = parseSSE(await (await post(base, '/v1/messages', { ...body, stream: true })).text());
  const startTool = evs.find((e) => e.event === 'content_block_start' && e.data.content_block.type === 'tool_use');
  assert.deepEqual(startTool.data.content_block.input, {});
  const frags = evs.filter((e) => e.data.delta?.type === 'input_json_delta').map((e) => e.data.delta.partial_json);
  assert.equal(frags[0], '');
  assert.ok(frags.length > 2);
  assert.deepEqual(JSON.parse(frags.join('')), tu.input);
  assert.equal(evs.find((e) => e.event === 'message_delta').data.delta.stop_reason, 'tool_use');
  // After a tool_result the reply is text again.
  const follow = await (await post(base, '/v1/messages', {
    ...body, messages: [...body.messages, { role: 'assistant', content: [tu] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: tu.id, content: 'sunny' }] }],
  })).json();
  assert.equal(follow.stop_reason, 'end_turn');
  assert.ok(follow.content[0].text.includes('sunny'));
});

test('thinking: thinking_delta then signature_delta before the stop', async () => {
  const body = msgBody({ max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 1024 } });
  const m = await (await post(base, '/v1/messages', body)).json();
  assert.equal(m.content[0].type, 'thinking');
  assert.ok(m.content[0].thinking.length > 0 && m.content[0].signature.length > 0);
  assert.equal(m.content[1].type, 'text');
  assert.ok(m.usage.output_tokens_details.thinking_tokens > 0);
  const evs = parseSSE(await (await post(base, '/v1/messages', { ...body, stream: true })).text());
  const block0 = evs.filter((e) => e.data.index === 0).map((e) => e.data.delta?.type ?? e.event);
  assert.equal(block0[0], 'content_block_start');
  assert.deepEqual(block0.slice(-2), ['signature_delta', 'content_block_stop']);
  assert.ok(block0.includes('thinking_delta'));
  const thinking = evs.filter((e) => e.data.delta?.type === 'thinking_delta').map((e) => e.data.delta.thinking);
  assert.equal(thinking.at(-1), '');
  assert.equal(thinking.join(''), m.content[0].thinking);
});

test('prompt caching: write first, read on repeat', async () => {
  const body = msgBody({ system: [{ type: 'text', text: 'Long cached instructions. '.repeat(100), cache_control: { type: 'ephemeral', ttl: '1h' } }] });
  const first = (await (await post(base, '/v1/messages', body)).json()).usage;
  assert.ok(first.cache_creation_input_tokens > 0);
  assert.equal(first.cache_creation.ephemeral_1h_input_tokens, first.cache_creation_input_tokens);
  assert.equal(first.cache_read_input_tokens, 0);
  const second = (await (await post(base, '/v1/messages', body)).json()).usage;
  assert.equal(second.cache_read_input_tokens, first.cache_creation_input_tokens);
  assert.equal(second.cache_creation_input_tokens, 0);
});

test('errors: status, envelope and retry headers', async () => {
  const cases = [
    [400, 'invalid_request_error'], [404, 'not_found_error'], [413, 'request_too_large'],
    [429, 'rate_limit_error'], [500, 'api_error'], [529, 'overloaded_error'], [401, 'authentication_error'],
  ];
  for (const [status, type] of cases) {
    for (const how of ['model', 'header']) {
      const res = how === 'model'
        ? await post(base, '/v1/messages', msgBody({ model: `fake-error-${status}` }))
        : await post(base, '/v1/messages', msgBody(), { 'x-fake-scenario': String(status) });
      assert.equal(res.status, status);
      const body = await res.json();
      assert.equal(body.type, 'error');
      assert.equal(body.error.type, type);
      assert.equal(body.request_id, res.headers.get('request-id'));
      if (status === 429) assert.equal(res.headers.get('retry-after'), '1');
    }
  }
  let res = await post(base, '/v1/messages', msgBody(), { 'x-api-key': 'bad-key' });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.message, 'invalid x-api-key');
  res = await fetch(base + '/v1/messages', { method: 'POST', headers: { 'anthropic-version': '2023-06-01' }, body: '{}' });
  assert.equal(res.status, 401);
  res = await fetch(base + '/v1/messages', { method: 'POST', headers: { 'x-api-key': KEY }, body: '{}' });
  assert.equal(res.status, 400);
  res = await fetch(base + '/v1/messages', { method: 'POST', headers: HEADERS, body: '{"model":' });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.type, 'invalid_request_error');
  res = await post(base, '/v1/messages', { model: 'claude-haiku-4-5', messages: [] });
  assert.equal(res.status, 400);
  assert.match((await res.json()).error.message, /max_tokens/);
  res = await fetch(base + '/v1/nothing-here', { headers: HEADERS });
  assert.equal(res.status, 404);
  res = await fetch(base + '/', { method: 'HEAD' });
  assert.equal(res.status, 404);
});

test('mid-stream error event, no message_stop', async () => {
  const res = await post(base, '/v1/messages', msgBody({ stream: true }), { 'x-fake-scenario': 'stream-error' });
  assert.equal(res.status, 200);
  const evs = parseSSE(await res.text());
  assert.equal(evs[0].event, 'message_start');
  const last = evs.at(-1);
  assert.equal(last.event, 'error');
  assert.equal(last.data.error.type, 'overloaded_error');
  assert.ok(!evs.some((e) => e.event === 'message_stop'));
  assert.ok(evs.some((e) => e.event === 'content_block_delta'));
});

test('abrupt close mid-stream', async () => {
  // node:http rather than fetch: it hands over every byte that arrived before the
  // connection dropped, and says whether the message was complete.
  const { status, received, complete } = await new Promise((resolve, reject) => {
    const req = http.request(base + '/v1/messages', { method: 'POST', headers: HEADERS }, (res) => {
      let text = '';
      const done = () => resolve({ status: res.statusCode, received: text, complete: res.complete });
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', done);
      res.on('error', done);
      res.on('aborted', done);
    });
    req.on('error', reject);
    req.end(JSON.stringify(msgBody({ stream: true, model: 'fake-error-stream-close' })));
  });
  assert.equal(status, 200);
  assert.equal(complete, false);
  assert.ok(received.includes('message_start'));
  assert.ok(received.includes('content_block_delta'));
  assert.ok(!received.includes('message_stop'));
  // fetch sees the same thing as a failed body read.
  const res = await post(base, '/v1/messages', msgBody({ stream: true, model: 'fake-error-stream-close' }));
  await assert.rejects(res.text());
});

test('gzip for JSON and SSE when asked', async () => {
  let res = await post(base, '/v1/messages', msgBody(), { 'accept-encoding': 'gzip' });
  assert.equal(res.headers.get('content-encoding'), 'gzip');
  assert.equal((await res.json()).type, 'message');
  res = await post(base, '/v1/messages', msgBody({ stream: true }), { 'accept-encoding': 'gzip' });
  assert.equal(res.headers.get('content-encoding'), 'gzip');
  assert.equal(parseSSE(await res.text()).at(-1).event, 'message_stop');
  res = await post(base, '/v1/messages', msgBody(), { 'accept-encoding': 'identity' });
  assert.equal(res.headers.get('content-encoding'), null);
});

test('SDK: count_tokens, create, stream with a tool, errors', async () => {
  const client = new Anthropic({ apiKey: KEY, baseURL: base, maxRetries: 0 });
  const count = await client.messages.countTokens({ model: 'claude-haiku-4-5', messages: msgBody().messages });
  const direct = await (await post(base, '/v1/messages/count_tokens', { model: 'claude-haiku-4-5', messages: msgBody().messages })).json();
  assert.deepEqual(Object.keys(direct), ['input_tokens']);
  assert.equal(count.input_tokens, direct.input_tokens);
  const msg = await client.messages.create(msgBody());
  assert.equal(msg.usage.input_tokens, count.input_tokens);
  assert.ok(msg.content[0].text.includes('France'));
  const { data, response } = await client.messages.create(msgBody()).withResponse();
  assert.match(response.headers.get('request-id'), /^req_fake_/);
  assert.equal(data.model, 'claude-haiku-4-5-20251001');

  const stream = client.messages.stream(msgBody({ tools: [WEATHER_TOOL] }));
  let streamedText = '';
  stream.on('text', (t) => { streamedText += t; });
  const final = await stream.finalMessage();
  assert.equal(final.stop_reason, 'tool_use');
  assert.equal(final.content[0].text, streamedText);
  assert.deepEqual(final.content[1].input, { city: 'fake city', unit: 'celsius', days: 42 });
  assert.ok(final.usage.output_tokens > 1);

  const thinkingStream = client.messages.stream(msgBody({ max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 1024 } }));
  const tfinal = await thinkingStream.finalMessage();
  assert.equal(tfinal.content[0].type, 'thinking');
  assert.ok(tfinal.content[0].signature.length > 0);

  await assert.rejects(client.messages.create(msgBody({ model: 'fake-error-429' })), (e) => e instanceof Anthropic.RateLimitError && e.status === 429);
  await assert.rejects(client.messages.create(msgBody({ model: 'fake-error-529' })), (e) => e.status === 529);
  await assert.rejects(new Anthropic({ apiKey: 'bad-key', baseURL: base, maxRetries: 0 }).messages.create(msgBody()),
    (e) => e instanceof Anthropic.AuthenticationError);
  await assert.rejects(async () => {
    const s = client.messages.stream(msgBody({ model: 'fake-error-stream-error' }));
    await s.finalMessage();
  }, (e) => /overloaded/i.test(String(e.message ?? e)));
});

const batchRequests = () => [
  { custom_id: 'ok-1', params: msgBody() },
  { custom_id: 'ok-2', params: msgBody({ messages: [{ role: 'user', content: 'second' }] }) },
  { custom_id: 'errored-1', params: msgBody() },
  { custom_id: 'expired-1', params: msgBody() },
  { custom_id: 'canceled-1', params: msgBody() },
  { custom_id: 'bad-params', params: { model: 'claude-haiku-4-5', messages: [] } },
];

test('SDK batches: create, retrieve until ended, results', async () => {
  const client = new Anthropic({ apiKey: KEY, baseURL: base, maxRetries: 0 });
  const created = await client.messages.batches.create({ requests: batchRequests() });
  assert.match(created.id, /^msgbatch_/);
  assert.equal(created.type, 'message_batch');
  assert.equal(created.processing_status, 'in_progress');
  assert.equal(created.results_url, null);
  assert.equal(created.ended_at, null);
  assert.deepEqual(created.request_counts, { processing: 6, succeeded: 0, errored: 0, canceled: 0, expired: 0 });
  assert.match(created.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
  // Results before the batch ends: 400 (raw GET; the SDK's results() would poll first).
  const early = await fetch(`${base}/v1/messages/batches/${created.id}/results`, { headers: HEADERS });
  assert.equal(early.status, 400);
  assert.equal((await early.json()).error.type, 'invalid_request_error');
  const poll1 = await client.messages.batches.retrieve(created.id);
  assert.equal(poll1.processing_status, 'in_progress');
  const poll2 = await client.messages.batches.retrieve(created.id);
  assert.equal(poll2.processing_status, 'ended');
  assert.ok(poll2.ended_at);
  assert.equal(poll2.results_url, `${base}/v1/messages/batches/${created.id}/results`);
  assert.deepEqual(poll2.request_counts, { processing: 0, succeeded: 2, errored: 2, canceled: 1, expired: 1 });
  const results = {};
  for await (const line of await client.messages.batches.results(created.id)) results[line.custom_id] = line.result;
  assert.deepEqual(Object.keys(results).sort(), batchRequests().map((r) => r.custom_id).sort());
  assert.equal(results['ok-1'].type, 'succeeded');
  assert.equal(results['ok-1'].message.usage.service_tier, 'batch');
  assert.ok(results['ok-2'].message.content[0].text.includes('second'));
  assert.equal(results['errored-1'].type, 'errored');
  assert.equal(results['errored-1'].error.type, 'error');
  assert.equal(results['errored-1'].error.error.type, 'invalid_request_error');
  assert.equal(results['errored-1'].error.request_id, null);
  assert.equal(results['bad-params'].type, 'errored');
  assert.match(results['bad-params'].error.error.message, /max_tokens/);
  assert.deepEqual(results['expired-1'], { type: 'expired' });
  assert.deepEqual(results['canceled-1'], { type: 'canceled' });
  // Raw results: JSONL, out of request order, gzip when asked.
  const res = await fetch(poll2.results_url, { headers: { ...HEADERS, 'accept-encoding': 'gzip' } });
  assert.equal(res.headers.get('content-encoding'), 'gzip');
  const lines = (await res.text()).split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, 6);
  assert.notEqual(JSON.parse(lines[0]).custom_id, 'ok-1');
  // Beta namespace works the same way.
  const beta = await client.beta.messages.batches.create({ requests: [{ custom_id: 'b1', params: msgBody() }] });
  assert.equal((await client.beta.messages.batches.retrieve(beta.id)).processing_status, 'in_progress');
  assert.equal((await client.beta.messages.batches.retrieve(beta.id)).processing_status, 'ended');
  const betaLines = [];
  for await (const l of await client.beta.messages.batches.results(beta.id)) betaLines.push(l);
  assert.equal(betaLines.length, 1);
  assert.equal(betaLines[0].result.type, 'succeeded');
});

test('batches: create validation', async () => {
  let res = await post(base, '/v1/messages/batches', { requests: [] });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.message, 'requests: List should have at least 1 item after validation, not 0');
  res = await post(base, '/v1/messages/batches', { requests: [{ custom_id: 'a', params: msgBody() }, { custom_id: 'a', params: msgBody() }] });
  assert.equal(res.status, 400);
  assert.match((await res.json()).error.message, /Duplicate custom_id/);
  res = await post(base, '/v1/messages/batches', { requests: [{ custom_id: 'has space', params: msgBody() }] });
  assert.equal(res.status, 400);
  res = await post(base, '/v1/messages/batches', { requests: [{ custom_id: 'x'.repeat(65), params: msgBody() }] });
  assert.equal(res.status, 400);
  res = await fetch(base + '/v1/messages/batches/msgbatch_nope', { headers: HEADERS });
  assert.equal(res.status, 404);
  assert.equal((await res.json()).error.type, 'not_found_error');
});

test('batches: list pagination newest first', async () => {
  const client = new Anthropic({ apiKey: KEY, baseURL: base, maxRetries: 0 });
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push((await client.messages.batches.create({ requests: [{ custom_id: `p${i}`, params: msgBody() }] })).id);
  const newestFirst = ids.slice().reverse();
  const page1 = await (await fetch(`${base}/v1/messages/batches?limit=2`, { headers: HEADERS })).json();
  assert.deepEqual(page1.data.map((b) => b.id), newestFirst.slice(0, 2));
  assert.equal(page1.has_more, true);
  assert.equal(page1.first_id, newestFirst[0]);
  assert.equal(page1.last_id, newestFirst[1]);
  const page2 = await (await fetch(`${base}/v1/messages/batches?limit=2&after_id=${page1.last_id}`, { headers: HEADERS })).json();
  assert.deepEqual(page2.data.map((b) => b.id), newestFirst.slice(2, 4));
  const back = await (await fetch(`${base}/v1/messages/batches?limit=1&before_id=${page2.first_id}`, { headers: HEADERS })).json();
  assert.deepEqual(back.data.map((b) => b.id), [newestFirst[1]]);
  assert.equal(back.has_more, true);
  // The SDK's auto-pagination walks every batch exactly once.
  const seen = [];
  for await (const b of client.messages.batches.list({ limit: 2 })) seen.push(b.id);
  assert.equal(new Set(seen).size, seen.length);
  for (const id of ids) assert.ok(seen.includes(id));
  assert.deepEqual(seen.slice(0, 5), newestFirst);
  const last = await (await fetch(`${base}/v1/messages/batches?limit=1000&after_id=${newestFirst[4]}`, { headers: HEADERS })).json();
  assert.equal(last.has_more, false);
});

test('batches: cancel, delete', async () => {
  const client = new Anthropic({ apiKey: KEY, baseURL: base, maxRetries: 0 });
  const b = await client.messages.batches.create({ requests: [{ custom_id: 'c1', params: msgBody() }, { custom_id: 'c2', params: msgBody() }] });
  await assert.rejects(client.messages.batches.delete(b.id), (e) => e.status === 400);
  const canceling = await client.messages.batches.cancel(b.id);
  assert.equal(canceling.processing_status, 'canceling');
  assert.ok(canceling.cancel_initiated_at);
  const ended = await client.messages.batches.retrieve(b.id);
  assert.equal(ended.processing_status, 'ended');
  assert.deepEqual(ended.request_counts, { processing: 0, succeeded: 0, errored: 0, canceled: 2, expired: 0 });
  const lines = [];
  for await (const l of await client.messages.batches.results(b.id)) lines.push(l.result.type);
  assert.deepEqual(lines, ['canceled', 'canceled']);
  // Canceled after one of two polls: the first half was already processed.
  const half = await client.messages.batches.create({ requests: [{ custom_id: 'h1', params: msgBody() }, { custom_id: 'h2', params: msgBody() }] });
  await client.messages.batches.retrieve(half.id);
  await client.messages.batches.cancel(half.id);
  const halfEnded = await client.messages.batches.retrieve(half.id);
  assert.equal(halfEnded.request_counts.succeeded, 1);
  assert.equal(halfEnded.request_counts.canceled, 1);
  const del = await client.messages.batches.delete(b.id);
  assert.deepEqual(del, { id: b.id, type: 'message_batch_deleted' });
  await assert.rejects(client.messages.batches.retrieve(b.id), (e) => e instanceof Anthropic.NotFoundError);
});

const PER_TURN = { 'anthropic-beta': 'claude-code-20250219,per-turn-control-2026-07-01,context-management-2025-06-27' };

test('system turns inside messages: accepted under the per-turn control beta, ignored by the echo', async () => {
  const body = msgBody({
    messages: [{ role: 'user', content: [{ type: 'text', text: 'hello there' }] },
      { role: 'system', content: [{ type: 'text', text: '# Environment: a reminder' }] }],
  });
  const res = await post(base, '/v1/messages?beta=true', body, PER_TURN);
  assert.equal(res.status, 200, await res.clone().text());
  const m = await res.json();
  assert.ok(m.content[0].text.includes('hello there'));
  assert.ok(!m.content[0].text.includes('Environment'));
  // count_tokens accepts them too
  const count = await post(base, '/v1/messages/count_tokens?beta=true', { model: body.model, messages: body.messages }, PER_TURN);
  assert.equal(count.status, 200);
  // without the beta, as with the real API: 400 invalid_request_error
  const refused = await post(base, '/v1/messages', body);
  assert.equal(refused.status, 400);
  const err = await refused.json();
  assert.equal(err.error.type, 'invalid_request_error');
  assert.match(err.error.message, /per-turn control/);
  const refusedCount = await post(base, '/v1/messages/count_tokens', { model: body.model, messages: body.messages });
  assert.equal(refusedCount.status, 400);
  // a system turn holds text only
  const bad = await post(base, '/v1/messages', msgBody({ messages: [{ role: 'system', content: [{ type: 'image', source: {} }] }] }), PER_TURN);
  assert.equal(bad.status, 400);
});

test('context_management and container: reported back like the real API', async () => {
  const body = msgBody({ context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] }, container: 'container_client_1' });
  const m = await (await post(base, '/v1/messages?beta=true', body, PER_TURN)).json();
  assert.deepEqual(m.context_management, { applied_edits: [] });
  assert.equal(m.container.id, 'container_client_1');
  const plain = await (await post(base, '/v1/messages', msgBody())).json();
  assert.equal(plain.container, null);
  assert.equal(plain.context_management, undefined);
  const evs = parseSSE(await (await post(base, '/v1/messages?beta=true', { ...body, stream: true }, PER_TURN)).text());
  assert.equal(evs[0].data.message.container, null);
  const delta = evs.find((e) => e.event === 'message_delta').data;
  assert.equal(delta.delta.container.id, 'container_client_1');
  assert.deepEqual(delta.context_management, { applied_edits: [] });
});

test('defer_loading tools: not counted as input and never called directly', async () => {
  const deferred = { ...WEATHER_TOOL, name: 'deferred_weather', description: 'x'.repeat(4000), defer_loading: true };
  const only = await (await post(base, '/v1/messages', msgBody({ tools: [deferred] }))).json();
  assert.equal(only.stop_reason, 'end_turn');
  const none = await (await post(base, '/v1/messages', msgBody())).json();
  assert.ok(only.usage.input_tokens < none.usage.input_tokens + 50, 'a deferred definition is not in the context');
  const both = await (await post(base, '/v1/messages', msgBody({ tools: [deferred, WEATHER_TOOL] }))).json();
  assert.equal(both.content.find((b) => b.type === 'tool_use').name, 'get_weather');
});

test('scripted tool calls: one per turn, in order, with the given input, then text', async () => {
  const tools = [WEATHER_TOOL, { name: 'Bash', input_schema: { type: 'object', properties: { command: { type: 'string' } } } }];
  const prompt = 'Plan:\nfake-anthropic: call Bash {"command":"echo one"}\nfake-anthropic: call get_weather {"city":"Oslo"}';
  const messages = [{ role: 'user', content: [{ type: 'text', text: prompt }] }];
  const calls = [];
  for (let turn = 0; turn < 3; turn++) {
    const m = await (await post(base, '/v1/messages', msgBody({ tools, messages }))).json();
    const tu = m.content.find((b) => b.type === 'tool_use');
    if (!tu) { assert.equal(m.stop_reason, 'end_turn'); assert.ok(m.content.at(-1).text.includes('result 2')); break; }
    assert.equal(m.stop_reason, 'tool_use');
    calls.push([tu.name, tu.input]);
    messages.push({ role: 'assistant', content: m.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: tu.id, content: `result ${calls.length}` }] });
  }
  assert.deepEqual(calls, [['Bash', { command: 'echo one' }], ['get_weather', { city: 'Oslo' }]]);
  // streamed the same way
  const evs = parseSSE(await (await post(base, '/v1/messages', msgBody({ tools, stream: true, messages: messages.slice(0, 1) }))).text());
  const frags = evs.filter((e) => e.data.delta?.type === 'input_json_delta').map((e) => e.data.delta.partial_json);
  assert.deepEqual(JSON.parse(frags.join('')), { command: 'echo one' });
});

test('scripted server tools: web search and code execution run inside the turn', async () => {
  const tools = [{ type: 'web_search_20250305', name: 'web_search' }, { type: 'code_execution_20250825', name: 'code_execution' }];
  const text = 'fake-anthropic: call web_search {"query":"otel"}\nfake-anthropic: call code_execution {"command":"ls"}';
  const body = msgBody({ tools, messages: [{ role: 'user', content: text }] });
  const m = await (await post(base, '/v1/messages', body)).json();
  assert.deepEqual(m.content.map((b) => b.type), ['server_tool_use', 'web_search_tool_result', 'text']);
  assert.equal(m.content[0].name, 'web_search');
  assert.deepEqual(m.content[0].input, { query: 'otel' });
  assert.equal(m.content[1].tool_use_id, m.content[0].id);
  assert.match(m.content[0].id, /^srvtoolu_/);
  assert.ok(m.content[1].content.every((r) => r.type === 'web_search_result' && r.encrypted_content));
  assert.equal(m.usage.server_tool_use.web_search_requests, 1);
  assert.equal(m.stop_reason, 'end_turn');
  // the follow-up carries the server blocks back: the next scripted call runs code
  const next = await (await post(base, '/v1/messages', { ...body, messages: [...body.messages, { role: 'assistant', content: m.content }, { role: 'user', content: 'go on' }] })).json();
  assert.deepEqual(next.content.map((b) => b.type), ['server_tool_use', 'bash_code_execution_tool_result', 'text']);
  assert.equal(next.content[1].content.stdout, 'fake-anthropic ran: ls\n');
  assert.match(next.container.id, /^container_fake_/);
  // streamed: the call's input arrives as input_json_delta, the result whole at its start
  const evs = parseSSE(await (await post(base, '/v1/messages', { ...body, stream: true })).text());
  const starts = evs.filter((e) => e.event === 'content_block_start').map((e) => e.data.content_block);
  assert.deepEqual(starts.map((b) => b.type), ['server_tool_use', 'web_search_tool_result', 'text']);
  assert.deepEqual(starts[0].input, {});
  assert.equal(starts[1].tool_use_id, starts[0].id);
  assert.deepEqual(starts[1].content.map((r) => r.title), m.content[1].content.map((r) => r.title));
  const frags = evs.filter((e) => e.data.index === 0 && e.data.delta?.type === 'input_json_delta').map((e) => e.data.delta.partial_json);
  assert.deepEqual(JSON.parse(frags.join('')), { query: 'otel' });
  assert.equal(evs.find((e) => e.event === 'message_delta').data.usage.server_tool_use.web_search_requests, 1);
});

test('keep-alive: many requests on one connection, request ids increase', async () => {
  const ids = [];
  for (let i = 0; i < 20; i++) {
    const res = await post(base, '/v1/messages', msgBody());
    await res.arrayBuffer();
    ids.push(Number(res.headers.get('request-id').slice('req_fake_'.length)));
  }
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1]);
});

let failed = 0;
const fake = await startFake(['--pace-ms', '1', '--batch-polls', '2', '--batch-seconds', '3600']);
base = fake.url;
try {
  for (const t of tests) {
    try {
      await t.fn();
      console.log(`ok - ${t.name}`);
    } catch (e) {
      failed++;
      console.log(`not ok - ${t.name}\n${e.stack}`);
    }
  }
  // --no-gzip ignores accept-encoding.
  const plain = await startFake(['--no-gzip']);
  try {
    const res = await post(plain.url, '/v1/messages', msgBody({ stream: true }), { 'accept-encoding': 'gzip' });
    assert.equal(res.headers.get('content-encoding'), null);
    assert.equal(parseSSE(await res.text()).at(-1).event, 'message_stop');
    console.log('ok - --no-gzip');
  } catch (e) {
    failed++;
    console.log(`not ok - --no-gzip\n${e.stack}`);
  } finally {
    await stopFake(plain.child);
  }
  // --replay of a recorded braintrust-js cassette: the SDK gets every recorded
  // POST /v1/messages response in order, JSON and SSE alike.
  if (fixturesPresent()) {
  const cassette = path.join(process.env.BT_SHARED_DIR, 'fixtures/anthropic/braintrust-sdk-javascript/anthropic-v0.cassette.json');
  const recorded = JSON.parse(fs.readFileSync(cassette, 'utf8')).entries
    .filter((e) => e.request.method === 'POST' && new URL(e.request.url).pathname === '/v1/messages');
  const replay = await startFake(['--replay', cassette, '--pace-ms', '0']);
  try {
    const client = new Anthropic({ apiKey: KEY, baseURL: replay.url, maxRetries: 0 });
    for (const entry of recorded) {
      const body = entry.response.body;
      if (body.kind === 'json') {
        const m = await client.messages.create(msgBody());
        assert.deepEqual(m, body.value);
      } else {
        const final = await client.messages.stream(msgBody()).finalMessage();
        const start = JSON.parse(body.chunks[0].split('\ndata: ')[1]);
        assert.equal(final.id, start.message.id);
        const stopped = body.chunks.map((c) => JSON.parse(c.split('\ndata: ')[1])).find((d) => d.type === 'message_delta');
        assert.equal(final.stop_reason, stopped.delta.stop_reason);
        assert.equal(final.usage.output_tokens, stopped.usage.output_tokens);
      }
    }
    assert.ok(recorded.length >= 5);
    console.log(`ok - --replay cassette (${recorded.length} recorded responses through the SDK)`);
  } catch (e) {
    failed++;
    console.log(`not ok - --replay cassette\n${e.stack}`);
  } finally {
    await stopFake(replay.child);
  }
  } else {
    skippedWithoutFixtures('--replay of a recorded cassette', import.meta.url);
  }
} finally {
  await stopFake(fake.child);
}
// One log line per request, and never the API key.
assert.ok(!fake.child.stderrText.includes(KEY), 'API key leaked to the log');
assert.match(fake.child.stderrText, /POST \/v1\/messages 200 req_fake_\d+/);
console.log(`${tests.length + 2 - failed}/${tests.length + 2} passed`);
process.exit(failed ? 1 : 0);
