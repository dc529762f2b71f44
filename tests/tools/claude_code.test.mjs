// Claude Code itself (the pinned @anthropic-ai/claude-code of tests/claude-code), in
// print mode on its default model, through bt-proxy to fake-anthropic: a three-turn
// agent run (a Bash call, a Read call, a final answer, scripted in the prompt). The run
// succeeds; its calls form ONE session trace whose ids derive from Claude Code's session
// id; the root's token totals equal what Claude Code reports; the tool round trips show
// between the turns; bt-spans show prints the tree in order. Telemetry, updates and
// nonessential traffic are off, HOME is a temporary folder, and every other connection
// Claude Code might try goes to a trap proxy that refuses it: the run needs nothing but
// the proxy.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  finish, sessionDerivedId, spanJsonAttr, startTool, stopProxy, test, track, watchdog,
} from '../support/proxy_harness.mjs';

const BUILD = process.env.BT_BUILD_DIR;
const TMP = process.env.BT_TEST_TMPDIR || os.tmpdir();
const CANARY = 'sk-ant-api03-CANARY-claude-code-1234567890';
const timer = watchdog(240000, 'Claude Code test');

// The native binary of this platform from the pinned package (its install script, which
// would copy it over bin/claude.exe, is not run).
const modules = path.join(process.env.BT_SOURCE_DIR, 'tests/claude-code/node_modules/@anthropic-ai');
const platformPkg = `claude-code-${process.platform}-${process.arch}`;
const CLAUDE = path.join(modules, platformPkg, 'claude');
const pinned = JSON.parse(fs.readFileSync(path.join(process.env.BT_SOURCE_DIR, 'tests/claude-code/package.json'), 'utf8'))
  .dependencies['@anthropic-ai/claude-code'];
if (!fs.existsSync(CLAUDE)) {
  if (!fs.existsSync(path.join(modules, 'claude-code'))) {
    console.log('not ok - Claude Code is not installed: run scripts/install-deps (npm ci in tests/claude-code)');
    process.exit(1);
  }
  console.log(`SKIPPED claude_code.test.mjs: Claude Code ${pinned} ships no native binary for ${process.platform}-${process.arch}`);
  process.exit(77);
}

// stdin is closed: Claude Code in print mode otherwise waits a while for piped input.
const run = (file, args, { cwd, env, timeout = 60000 } = {}) => new Promise((resolve) => {
  const child = spawn(file, args, { cwd, env: env || process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
  child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code: signal ? signal : code, stdout, stderr }); });
});

// A forward proxy that refuses everything and remembers what was asked of it.
const trapped = [];
const trap = http.createServer((req, res) => { trapped.push(`${req.method} ${req.url}`); res.writeHead(403); res.end(); });
trap.on('connection', (socket) => socket.on('error', () => {}));
trap.on('connect', (req, socket) => { trapped.push(`CONNECT ${req.url}`); socket.end('HTTP/1.1 403 Forbidden\r\n\r\n'); });
await new Promise((r) => trap.listen(0, '127.0.0.1', r));
const TRAP = `http://127.0.0.1:${trap.address().port}`;

const dir = fs.mkdtempSync(path.join(TMP, 'claude-code-'));
const home = path.join(dir, 'home'), work = path.join(dir, 'work');
fs.mkdirSync(home);
fs.mkdirSync(work);
fs.writeFileSync(path.join(work, 'notes.txt'), 'the notes of the offline run\n');
const store = path.join(dir, 'spans.db'), jsonl = path.join(dir, 'spans.jsonl');

const fake = await startTool('fake-anthropic', ['--listen', '127.0.0.1:0', '--pace-ms', '0']);
const proxy = await startTool('bt-proxy', ['--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${fake.port}`,
  '--store', store, '--spans-jsonl', jsonl, '--session-idle', '300'],
{ OTEL_EXPORTER_OTLP_ENDPOINT: '', BRAINTRUST_API_KEY: '', OTEL_SDK_DISABLED: '' });

const prompt = 'Print a marker, then read the notes.\n' +
  'fake-anthropic: call Bash {"command":"echo fake-tool-ran","description":"Print a marker"}\n' +
  `fake-anthropic: call Read {"file_path":${JSON.stringify(path.join(work, 'notes.txt'))}}`;
// Only what Claude Code needs, nothing inherited that could send it elsewhere.
const env = {
  PATH: process.env.PATH, HOME: home, TMPDIR: dir, LANG: 'C.UTF-8', TERM: 'dumb',
  ANTHROPIC_BASE_URL: `http://127.0.0.1:${proxy.port}`, ANTHROPIC_API_KEY: CANARY,
  DISABLE_TELEMETRY: '1', DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  DISABLE_ERROR_REPORTING: '1', DISABLE_BUG_COMMAND: '1',
  HTTP_PROXY: TRAP, HTTPS_PROXY: TRAP, http_proxy: TRAP, https_proxy: TRAP, NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1',
};
const t0 = Date.now();
const cc = await run(CLAUDE, ['-p', prompt, '--output-format', 'json', '--allowedTools', 'Bash(echo:*)', 'Read'],
  { cwd: work, env, timeout: 180000 });
const took = Date.now() - t0;
await stopProxy(proxy); // the open session's root is emitted at shutdown
await stopProxy(fake);
let report;

await test(`Claude Code ${pinned} runs to completion on its default model (${took} ms)`, async () => {
  assert.equal(cc.code, 0, `exit ${cc.code}\n${cc.stderr}\n${cc.stdout}`);
  report = JSON.parse(cc.stdout);
  assert.equal(report.is_error, false, cc.stdout);
  assert.equal(report.subtype, 'success');
  assert.equal(report.num_turns, 3);
  assert.match(report.result, /the notes of the offline run/);
  assert.deepEqual(report.permission_denials, []);
});

await test('nothing but the proxy was contacted', async () => {
  assert.deepEqual(trapped, []);
  assert.ok(!proxy.stderrText.includes(CANARY), 'API key in the proxy log');
});

const spans = fs.readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const llm = spans.filter((s) => s.name === 'anthropic.messages.stream' || s.name === 'anthropic.messages.create')
  .sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)));
const root = spans.find((s) => s.name === 'agent.session');

await test('its calls form one session trace under an agent.session root', async () => {
  assert.ok(report, 'no report from Claude Code');
  const traceId = sessionDerivedId('braintrust:session:trace', report.session_id, 16);
  const rootId = sessionDerivedId('braintrust:session:root', report.session_id, 8);
  assert.equal(llm.length, 3);
  assert.ok(root, 'root span');
  assert.equal(root.traceId, traceId);
  assert.equal(root.spanId, rootId);
  for (const s of spans) assert.equal(s.traceId, traceId, `${s.name} in another trace`);
  for (const s of spans.filter((x) => x !== root)) assert.equal(s.parentSpanId, rootId, s.name);
  const md = spanJsonAttr(root, 'braintrust.metadata');
  assert.equal(md.session_id, report.session_id);
  assert.equal(md.session_source, 'x-claude-code-session-id');
  assert.equal(md.llm_calls, 3);
  assert.equal(md.turns, 3);
  assert.equal(md.errors, 0);
  assert.equal(md.tool_calls, 2);
  // its own model, as Claude Code reports it
  const model = spanJsonAttr(llm[0], 'braintrust.metadata').model;
  assert.ok(Object.keys(report.modelUsage).some((m) => model.startsWith(m)), `${model} vs ${Object.keys(report.modelUsage)}`);
  assert.deepEqual(md.models, [model]);
});

await test('the root token totals equal what Claude Code reports', async () => {
  const md = spanJsonAttr(root, 'braintrust.metadata');
  const u = report.usage;
  assert.equal(md.prompt_tokens, u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens);
  assert.equal(md.completion_tokens, u.output_tokens);
  assert.equal(md.prompt_cached_tokens, u.cache_read_input_tokens);
  assert.equal(md.prompt_cache_creation_tokens, u.cache_creation_input_tokens);
  assert.equal(md.tokens, md.prompt_tokens + md.completion_tokens);
  // and the turns add up to the same
  const sum = (k) => llm.reduce((n, s) => n + spanJsonAttr(s, 'braintrust.metrics')[k], 0);
  assert.equal(sum('prompt_tokens'), md.prompt_tokens);
  assert.equal(sum('completion_tokens'), md.completion_tokens);
  assert.equal(spanJsonAttr(root, 'braintrust.metrics'), undefined, 'no token metrics on the root');
});

await test('turns in order with their numbers, tool round trips between them', async () => {
  assert.deepEqual(llm.map((s) => spanJsonAttr(s, 'braintrust.metadata').turn), [1, 2, 3]);
  // Claude Code's in-conversation system turn is told apart from the top-level system
  for (const s of llm) {
    const md = spanJsonAttr(s, 'braintrust.metadata');
    const input = spanJsonAttr(s, 'braintrust.input_json');
    assert.ok(md.system_turns.length >= 1);
    for (const i of md.system_turns) assert.equal(input[i].role, 'system');
    assert.equal(input.at(-1).role, 'system');
    assert.ok(!md.system_turns.includes(input.length - 1));
  }
  const tools = spans.filter((s) => spanJsonAttr(s, 'braintrust.span_attributes').type === 'tool');
  assert.deepEqual(tools.map((s) => s.name), ['Bash', 'Read']);
  assert.deepEqual(spanJsonAttr(tools[0], 'braintrust.input_json'), { command: 'echo fake-tool-ran', description: 'Print a marker' });
  assert.match(JSON.stringify(spanJsonAttr(tools[0], 'braintrust.output_json')), /fake-tool-ran/);
  assert.match(JSON.stringify(spanJsonAttr(tools[1], 'braintrust.output_json')), /the notes of the offline run/);
  for (let i = 0; i < 2; i++) {
    assert.equal(tools[i].startTimeUnixNano, llm[i].endTimeUnixNano);
    assert.equal(tools[i].endTimeUnixNano, llm[i + 1].startTimeUnixNano);
  }
  assert.equal(root.startTimeUnixNano, llm[0].startTimeUnixNano);
  assert.equal(root.endTimeUnixNano, llm[2].endTimeUnixNano);
  const out = spanJsonAttr(root, 'braintrust.output_json');
  assert.match(JSON.stringify(out), /the notes of the offline run/);
  assert.match(JSON.stringify(spanJsonAttr(root, 'braintrust.input_json')), /Print a marker, then read the notes/);
});

await test('bt-spans show prints the session as a tree, turns in order', async () => {
  const r = await run(path.join(BUILD, 'bt-spans'), ['--store', store, 'show', root.traceId], {});
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(lines[1], /^agent\.session  \[task\]/);
  const children = lines.map((l) => l.match(/^[├└]─ (\S+)  \[/)?.[1]).filter(Boolean);
  assert.deepEqual(children, ['anthropic.messages.stream', 'Bash', 'anthropic.messages.stream', 'Read', 'anthropic.messages.stream']);
  const tree = JSON.parse((await run(path.join(BUILD, 'bt-spans'), ['--store', store, '--json', 'show', root.traceId], {})).stdout);
  assert.equal(tree.roots.length, 1);
  assert.deepEqual(tree.roots[0].children.map((c) => c.name), children);
  assert.ok(!fs.readFileSync(store).includes(CANARY), 'API key in the store');
});

clearTimeout(timer);
trap.close();
fs.rmSync(dir, { recursive: true, force: true });
finish('Claude Code checks');
