// The trace viewer in a real browser (Debian's headless Chromium driven by
// playwright-core): a store made of the demo's own traffic (the official SDK through
// bt-proxy to fake-anthropic), a 20,000-request batch, and a batch whose every field
// carries <script> / <img onerror> / <svg onload> payloads. Checked on the page that
// `bt-spans html` writes and on `bt-spans serve`: the list, the demo's batch trace
// (one waterfall bar per span, the input text in the detail pane), virtualised rows
// for the big batch, totals charts, live updates, and that no payload ever runs.
// Screenshots go to $BT_BUILD_DIR/viewer-screenshots.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const BUILD = process.env.BT_BUILD_DIR;
const SRC = process.env.BT_SOURCE_DIR;
const TMP = process.env.BT_TEST_TMPDIR || '/tmp';
const CHROMIUM = process.env.BT_CHROMIUM || '/usr/bin/chromium';
const require = createRequire(path.join(SRC, 'tests', 'node', 'package.json'));

fs.mkdirSync(TMP, { recursive: true });
const W = fs.mkdtempSync(path.join(TMP, 'viewer.'));
const SHOTS = path.join(BUILD, 'viewer-screenshots');
fs.mkdirSync(SHOTS, { recursive: true });
const STORE = path.join(W, 'spans.db');

const children = new Set();
const killAll = () => { for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } } };
process.on('exit', () => { killAll(); fs.rmSync(W, { recursive: true, force: true }); });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(1); });
// A backstop only: every wait below is bounded by itself.
const watchdog = setTimeout(() => { console.error('viewer test: watchdog expired'); killAll(); process.exit(1); }, 540000);

function start(bin, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(BUILD, bin), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.stderrText = '';
    child.stderr.on('data', (d) => { child.stderrText += d; });
    child.exitPromise = new Promise((r) => child.on('exit', (code, signal) => { children.delete(child); r({ code, signal }); }));
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${bin} did not print its address:\n${child.stderrText}`)), 30000);
    const look = (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) { clearTimeout(timer); child.port = Number(m[1]); resolve(child); }
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('exit', () => { clearTimeout(timer); reject(new Error(`${bin} exited early:\n${child.stderrText}`)); });
  });
}

async function stop(child) {
  child.kill('SIGTERM');
  const { code, signal } = await child.exitPromise;
  assert.equal(signal, null, `${child.spawnargs[0]} died of ${signal}:\n${child.stderrText}`);
  assert.equal(code, 0, `${child.spawnargs[0]} exit ${code}:\n${child.stderrText}`);
}

function btSpans(...args) {
  const r = spawnSync(path.join(BUILD, 'bt-spans'), ['--store', STORE, ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`bt-spans ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return r.stdout;
}

const results = [];
async function test(name, fn) {
  try { await fn(); results.push(true); console.log(`ok - ${name}`); } catch (e) {
    results.push(false);
    console.log(`not ok - ${name}\n  ${String((e && e.stack) || e).split('\n').slice(0, 8).join('\n  ')}`);
  }
}

// ---- the store ----------------------------------------------------------------------

// A loopback server that counts every request: a payload that ran would call it.
const beaconHits = [];
const beacon = http.createServer((req, res) => { beaconHits.push(req.url); res.end('hit'); });
await new Promise((r) => beacon.listen(0, '127.0.0.1', r));
const hit = (tag) => `http://127.0.0.1:${beacon.address().port}/${tag}`;
const PAYLOAD = [
  `<script>window.__pwned='script';fetch('${hit('script')}')</script>`,
  `<img src="${hit('img')}" onerror="window.__pwned='img';fetch('${hit('onerror')}')">`,
  `<svg onload="window.__pwned='svg'"></svg>`,
  `"><iframe src="${hit('iframe')}"></iframe>`,
  `<a href="javascript:window.__pwned='js'">x</a>`,
  `</script><script>window.__pwned='close'</script>`,
].join(' ');

function writeBatch(dir, id, createdAt, requests, results) {
  fs.mkdirSync(dir, { recursive: true });
  const counts = { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
  for (const r of results) counts[r.result.type]++;
  fs.writeFileSync(path.join(dir, 'batch.json'), JSON.stringify({ id, type: 'message_batch', processing_status: 'ended',
    request_counts: counts, created_at: createdAt, ended_at: createdAt.replace(/T(\d\d)/, (m, h) => 'T' + String(Number(h) + 1).padStart(2, '0')),
    expires_at: createdAt, results_url: null }));
  fs.writeFileSync(path.join(dir, 'requests.jsonl'), requests.map((r) => JSON.stringify(r)).join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'results.jsonl'), results.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return ['import-batch', '--batch', path.join(dir, 'batch.json'), '--requests', path.join(dir, 'requests.jsonl'),
    '--results', path.join(dir, 'results.jsonl')];
}

const message = (model, content, usage = { input_tokens: 12, output_tokens: 5 }) =>
  ({ id: 'msg_x', type: 'message', role: 'assistant', model, content, stop_reason: 'end_turn', stop_sequence: null, usage });

let demoBatch, bigBatch, xssBatch;
await test('a store of the demo\'s traffic, a 20,000-request batch and a batch full of payloads', async () => {
  const fake = await start('fake-anthropic', ['--listen', '127.0.0.1:0', '--batch-polls', '2']);
  const proxy = await start('bt-proxy', ['--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${fake.port}`, '--store', STORE]);
  const client = spawnSync('node', [path.join(SRC, 'scripts', 'demo-client.mjs')], {
    encoding: 'utf8', timeout: 120000,
    env: { ...process.env, ANTHROPIC_BASE_URL: `http://127.0.0.1:${proxy.port}`, ANTHROPIC_API_KEY: 'sk-ant-viewer-test' },
  });
  assert.equal(client.status, 0, `demo client: ${client.stdout}\n${client.stderr}`);
  await stop(proxy);
  await stop(fake);

  const N = 20000;
  const big = [], bigResults = [];
  for (let i = 0; i < N; i++) {
    const id = `req-${String(i).padStart(5, '0')}`;
    big.push({ custom_id: id, params: { model: 'claude-haiku-4-5', max_tokens: 32, messages: [{ role: 'user', content: `Question number ${i}` }] } });
    bigResults.push(i % 2000 === 7
      ? { custom_id: id, result: { type: 'errored', error: { type: 'error', error: { type: 'overloaded_error', message: `busy ${i}` } } } }
      : { custom_id: id, result: { type: 'succeeded', message: message('claude-haiku-4-5-20251001', [{ type: 'text', text: `Answer number ${i}` }]) } });
  }
  btSpans(...writeBatch(path.join(W, 'big'), 'msgbatch_viewer_big', '2026-01-05T10:00:00Z', big, bigResults));

  const xssReq = [
    { custom_id: 'xss-1', params: { model: 'claude-xss', max_tokens: 10, system: PAYLOAD, messages: [
      { role: 'user', content: PAYLOAD },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: PAYLOAD, input: { q: PAYLOAD } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: PAYLOAD }] }] } },
    { custom_id: 'xss-2', params: { model: 'claude-xss', max_tokens: 10, messages: [{ role: 'user', content: PAYLOAD }] } },
  ];
  const xssRes = [
    { custom_id: 'xss-1', result: { type: 'succeeded', message: message(`claude-${PAYLOAD}`, [
      { type: 'thinking', thinking: PAYLOAD, signature: 'sig' }, { type: 'text', text: PAYLOAD },
      { type: 'tool_use', id: 'toolu_2', name: PAYLOAD, input: { html: PAYLOAD } }]) } },
    { custom_id: 'xss-2', result: { type: 'errored', error: { type: 'error', error: { type: 'invalid_request_error', message: PAYLOAD } } } },
  ];
  btSpans(...writeBatch(path.join(W, 'xss'), 'msgbatch_viewer_xss', '2026-01-04T10:00:00Z', xssReq, xssRes));

  const list = JSON.parse(btSpans('--json', 'list', '--limit', '100'));
  const batches = list.filter((t) => t.root === 'anthropic.batch');
  demoBatch = batches.find((t) => t.spans === 4);
  bigBatch = batches.find((t) => t.spans === N + 1);
  xssBatch = batches.find((t) => t.spans === 3);
  assert.ok(demoBatch && bigBatch && xssBatch, `batch traces: ${JSON.stringify(batches)}`);
});

// ---- the browser ----------------------------------------------------------------------

const { chromium } = require('playwright-core');
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  // Offline and quiet: without these Chromium tries to reach the network and waits.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});

// A page that records what no payload may cause: dialogs, CSP violations (a payload
// that got into the DOM as markup and was then blocked), and requests leaving the page's
// own origin.
async function newPage(origin) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 860 } });
  const page = await context.newPage();
  page.dialogs = [];
  page.foreign = [];
  page.errors = [];
  page.on('dialog', (d) => { page.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('request', (r) => { if (!r.url().startsWith(origin)) page.foreign.push(r.url()); });
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return page;
}

async function assertNothingRan(page) {
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'a payload set window.__pwned');
  assert.deepEqual(await page.evaluate(() => window.__violations), [], 'a payload reached the DOM as markup (CSP blocked it)');
  assert.deepEqual(page.dialogs, [], 'a payload opened a dialog');
  assert.deepEqual(page.foreign, [], 'the page requested something outside its origin');
  assert.deepEqual(beaconHits, [], 'a payload called the beacon');
  assert.deepEqual(page.errors, [], 'the page threw');
}

async function detailText(page) {
  await page.waitForFunction(() => {
    const d = document.querySelector('.detail');
    return d && !d.querySelector('.loading') && d.querySelector('.span-head');
  }, null, { timeout: 30000 });
  return page.locator('.detail').innerText();
}

// Clicks each waterfall row in turn (all fit on screen) and returns the detail texts.
async function visitRows(page) {
  const n = await page.locator('.wf-row').count();
  const texts = [];
  for (let i = 0; i < n; i++) {
    await page.locator('.wf-row').nth(i).click();
    await page.waitForFunction((k) => document.querySelectorAll('.wf-row')[k].classList.contains('sel'), i);
    texts.push(await detailText(page));
  }
  return texts;
}

async function checkDemoBatch(page, shot) {
  await page.waitForSelector('.wf-row');
  const spans = Number(await page.locator('.wf').getAttribute('data-spans'));
  assert.equal(spans, 4);
  assert.equal(await page.locator('.wf-bar').count(), spans, 'one bar per span');
  assert.equal(await page.locator('.wf-bar.err').count(), 1, 'the errored request is marked');
  assert.equal(await page.locator('.wf-bar.t-task').count(), 1);
  assert.equal(await page.locator('.wf-bar.t-llm').count(), 3);
  const texts = await visitRows(page);
  const france = texts.find((t) => t.includes('Capital of France?'));
  assert.ok(france, `no detail pane shows the input text:\n${texts.join('\n---\n')}`);
  assert.match(france, /fake-anthropic echo: Capital of France\?/, 'the output is shown');
  assert.match(france, /METADATA/i);
  assert.match(france, /METRICS/i);
  assert.ok(texts.some((t) => t.includes('This one fails.') && /invalid_request_error/.test(t)), 'the error is shown');
  // raw JSON on demand
  await page.locator('.wf-row').nth(1).click();
  await detailText(page);
  assert.equal(await page.locator('.raw pre').count(), 0);
  await page.locator('.raw-toggle').click();
  assert.match(await page.locator('.raw pre').innerText(), /"traceId"/);
  await page.screenshot({ path: path.join(SHOTS, shot) });
}

async function checkBigBatch(page, shot) {
  await page.waitForSelector('.wf-row');
  assert.equal(await page.locator('.wf').getAttribute('data-spans'), '20001');
  const rendered = await page.locator('.wf-row').count();
  assert.ok(rendered > 10 && rendered < 200, `${rendered} rows in the DOM for 20,001 spans`);
  // The last row, after scrolling to the bottom.
  await page.locator('.wf-scroll').evaluate((e) => { e.scrollTop = e.scrollHeight; });
  await page.waitForSelector('.wf-row[data-row="20000"]', { timeout: 30000 });
  assert.ok((await page.locator('.wf-row').count()) < 200, 'still only the rows in view');
  await page.locator('.wf-row[data-row="20000"]').click();
  assert.match(await detailText(page), /Question number \d+/);
  // Folding the root leaves one row.
  await page.locator('.wf-scroll').evaluate((e) => { e.scrollTop = 0; });
  await page.waitForSelector('.wf-row[data-row="0"]');
  await page.locator('.wf-row[data-row="0"] .tw').click();
  await page.waitForFunction(() => document.querySelectorAll('.wf-row').length === 1);
  await page.locator('.wf-row[data-row="0"] .tw').click();
  await page.waitForFunction(() => document.querySelectorAll('.wf-row').length > 10);
  await page.screenshot({ path: path.join(SHOTS, shot) });
}

async function checkPayloads(page, shot) {
  await page.waitForSelector('.wf-row');
  const texts = await visitRows(page);
  // The payloads are there, as text.
  const all = texts.join('\n');
  assert.ok(all.includes("<script>window.__pwned='script'"), 'payload shown as text');
  assert.ok(all.includes('<img src="http://127.0.0.1:'), 'payload shown as text');
  assert.ok(texts.some((t) => /invalid_request_error: .*<svg onload/.test(t)), 'error message shown as text');
  await page.locator('.wf-row').nth(1).click();
  await detailText(page);
  await page.locator('.raw-toggle').click();
  await page.locator('.raw pre').waitFor();
  await assertNothingRan(page);
  await page.screenshot({ path: path.join(SHOTS, shot) });
}

for (const [name, trace, check] of [['demo batch', () => demoBatch, checkDemoBatch], ['20,000-request batch', () => bigBatch, checkBigBatch],
  ['payload batch', () => xssBatch, checkPayloads]]) {
  await test(`bt-spans html: ${name}`, async () => {
    const file = path.join(W, `${name.replace(/\W+/g, '-')}.html`);
    btSpans('html', trace().trace_id, '-o', file);
    const html = fs.readFileSync(file, 'utf8');
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-/);
    assert.doesNotMatch(html, /<script>window.__pwned/, 'a payload is raw in the file');
    const page = await newPage('file://');
    await page.goto('file://' + file);
    await check(page, `html-${name.replace(/\W+/g, '-')}.png`);
    await assertNothingRan(page);
    await page.context().close();
  });
}

// ---- bt-spans serve ------------------------------------------------------------------

function get(port, p, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

const serve = await start('bt-spans', ['--store', STORE, 'serve', '--listen', '127.0.0.1:0']);
const ORIGIN = `http://127.0.0.1:${serve.port}`;

await test('bt-spans serve: headers, loopback Host only, JSON API', async () => {
  const page = await get(serve.port, '/');
  assert.equal(page.status, 200);
  assert.match(page.headers['content-security-policy'], /default-src 'none'; script-src 'self'/);
  assert.doesNotMatch(page.headers['content-security-policy'], /unsafe/);
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  assert.match(page.body, /<script src="\/app.js"><\/script>/);
  assert.equal((await get(serve.port, '/', { host: 'rebound.example:' + serve.port })).status, 421, 'DNS rebinding');
  const js = await get(serve.port, '/app.js');
  assert.match(js.headers['content-type'], /javascript/);
  const traces = JSON.parse((await get(serve.port, '/api/traces?limit=2')).body);
  assert.equal(traces.traces.length, 2);
  assert.ok(traces.next);
  const xss = JSON.parse((await get(serve.port, `/api/traces/${xssBatch.trace_id}`)).body);
  const raw = (await get(serve.port, `/api/traces/${xssBatch.trace_id}/spans/${xss.spans[1].span_id}`)).body;
  assert.ok(!raw.includes('<'), 'span JSON carries no raw markup characters');
  assert.ok(JSON.parse(raw).attributes.length > 0);
});

await test('bt-spans serve: the list, each trace a link to its own URL, filters and pages', async () => {
  const page = await newPage(ORIGIN);
  await page.goto(ORIGIN + '/');
  await page.waitForSelector('table.traces tbody tr');
  const rows = await page.locator('table.traces tbody tr').count();
  assert.ok(rows >= 10, `${rows} rows`);
  // DESIGN.md: each trace is a link whose href carries the trace id.
  for (const a of await page.locator('table.traces a.root').all()) {
    const tr = await a.evaluate((e) => e.closest('tr').getAttribute('data-trace'));
    assert.equal(await a.getAttribute('href'), `/trace/${tr}`);
  }
  // Filters go into the URL.
  await page.fill('input[name=model]', 'claude-xss');
  await page.click('form.filters button[type=submit]');
  await page.waitForFunction(() => location.search.includes('model=claude-xss') && document.querySelectorAll('table.traces tbody tr').length === 1);
  assert.equal(await page.locator('table.traces tbody tr').getAttribute('data-trace'), xssBatch.trace_id);
  await page.selectOption('select[name=status]', 'error');
  await page.fill('input[name=model]', '');
  await page.click('form.filters button[type=submit]');
  await page.waitForFunction(() => location.search.includes('status=error'));
  await page.waitForSelector('table.traces tbody tr');
  for (const tr of await page.locator('table.traces tbody tr').all()) {
    assert.ok((await tr.innerText()).match(/error|failed span/), await tr.innerText());
  }
  // Keyset pages: three at a time, older and back.
  await page.goto(ORIGIN + '/?limit=3');
  await page.waitForSelector('table.traces tbody tr');
  const first = await page.locator('table.traces tbody tr').evaluateAll((t) => t.map((r) => r.getAttribute('data-trace')));
  assert.equal(first.length, 3);
  await page.click('a.older');
  await page.waitForFunction(() => location.search.includes('cursor='));
  await page.waitForSelector('table.traces tbody tr');
  const second = await page.locator('table.traces tbody tr').evaluateAll((t) => t.map((r) => r.getAttribute('data-trace')));
  assert.equal(second.length, 3);
  assert.ok(second.every((id) => !first.includes(id)), 'an older page repeats no trace');
  await page.goBack();
  await page.waitForFunction((id) => document.querySelector('table.traces tbody tr')?.getAttribute('data-trace') === id, first[0]);
  await page.goto(ORIGIN + '/');
  await page.waitForSelector('table.traces tbody tr');
  await page.screenshot({ path: path.join(SHOTS, 'serve-list.png') });
  // The demo's batch, by clicking its link.
  await page.click(`a[href="/trace/${demoBatch.trace_id}"]`);
  await page.waitForFunction((id) => location.pathname === `/trace/${id}`, demoBatch.trace_id);
  await checkDemoBatch(page, 'serve-demo-batch.png');
  await assertNothingRan(page);
  await page.context().close();
});

await test('bt-spans serve: the 20,000-request batch and the payload batch', async () => {
  const page = await newPage(ORIGIN);
  await page.goto(`${ORIGIN}/trace/${bigBatch.trace_id}`);
  await checkBigBatch(page, 'serve-big-batch.png');
  await page.goto(`${ORIGIN}/trace/${xssBatch.trace_id.slice(0, 10)}`); // a prefix is enough
  await checkPayloads(page, 'serve-payload-batch.png');
  await page.goto(`${ORIGIN}/?model=claude-xss`);
  await page.waitForSelector('table.traces tbody tr');
  assert.ok((await page.locator('table.traces').innerText()).includes('claude-<script>'), 'the payload model shows as text');
  await assertNothingRan(page);
  await page.context().close();
});

await test('bt-spans serve: totals as charts', async () => {
  const page = await newPage(ORIGIN);
  await page.goto(ORIGIN + '/');
  await page.click('nav a[href="/totals"]');
  await page.waitForSelector('.chart svg rect');
  assert.equal(await page.locator('.chart').count(), 4);
  assert.ok(await page.locator('.chart svg rect').count() >= 4);
  const cards = await page.locator('.cards').innerText();
  assert.match(cards, /llm calls/);
  assert.match(await page.locator('table.totals').innerText(), /claude-haiku-4-5-20251001/);
  await page.screenshot({ path: path.join(SHOTS, 'serve-totals.png'), fullPage: true });
  await assertNothingRan(page);
  await page.context().close();
});

await test('bt-spans serve: new spans appear without a reload', async () => {
  const page = await newPage(ORIGIN);
  await page.goto(ORIGIN + '/');
  await page.waitForSelector('table.traces tbody tr');
  await page.waitForSelector('.live.on', { timeout: 20000 });
  const before = await page.locator('table.traces tbody tr').count();
  btSpans(...writeBatch(path.join(W, 'live'), 'msgbatch_viewer_live', '2031-01-01T10:00:00Z',
    [{ custom_id: 'live', params: { model: 'claude-live', max_tokens: 5, messages: [{ role: 'user', content: 'Live?' }] } }],
    [{ custom_id: 'live', result: { type: 'succeeded', message: message('claude-live', [{ type: 'text', text: 'Yes.' }]) } }]));
  const live = JSON.parse(btSpans('--json', 'list', '--limit', '1'))[0];
  assert.equal(live.models[0], 'claude-live');
  await page.waitForSelector(`tr[data-trace="${live.trace_id}"]`, { timeout: 20000 });
  assert.equal(await page.locator('table.traces tbody tr').first().getAttribute('data-trace'), live.trace_id);
  assert.equal(await page.locator('table.traces tbody tr').count(), Math.min(50, before + 1));
  await page.context().close();
});

await test('bt-spans serve: stops on SIGTERM with a live-update client connected', async () => {
  const events = http.get({ host: '127.0.0.1', port: serve.port, path: '/api/events', agent: false });
  const res = await new Promise((r) => events.on('response', r));
  assert.equal(res.headers['content-type'], 'text/event-stream');
  res.resume();
  const ended = new Promise((r) => { res.on('end', r); res.on('error', r); res.on('close', r); });
  await stop(serve);
  await ended;
});

await browser.close();
beacon.close();
clearTimeout(watchdog);
const failed = results.filter((r) => !r).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
