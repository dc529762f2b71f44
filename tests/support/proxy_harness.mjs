// Helpers for the bt-proxy tests in node: start the proxy (always stopped at exit),
// plain and raw-socket requests, a parser for a raw stream of HTTP responses, and a
// small runner that prints TAP-like lines and a summary.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

export const PROXY_BIN = path.join(process.env.BT_BUILD_DIR || '.', 'bt-proxy');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const children = new Set();
export function killAll() {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(1); });

// A hang anywhere is a failure, never a stuck CI job.
export function watchdog(ms, name) {
  return setTimeout(() => { console.error(`${name}: watchdog expired`); killAll(); process.exit(1); }, ms);
}

// Starts bt-proxy (or another of the project's servers: `bin`) and resolves once it
// printed its address (child.port).
export function startProxy(args, env = {}, bin = PROXY_BIN) {
  const name = path.basename(bin);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    child.stderrText = '';
    child.stderr.on('data', (d) => { child.stderrText += d; });
    child.exitPromise = new Promise((r) => child.on('exit', (code, signal) => { children.delete(child); r({ code, signal }); }));
    const timer = setTimeout(() => reject(new Error(`${name} did not print its address; stderr:\n${child.stderrText}`)), 20000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) { clearTimeout(timer); child.port = Number(m[1]); resolve(child); }
    });
    child.on('exit', () => { clearTimeout(timer); reject(new Error(`${name} exited early; stderr:\n${child.stderrText}`)); });
  });
}

// One of the project's servers from the build folder: startTool('fake-anthropic', args).
export const startTool = (bin, args, env = {}) => startProxy(args, env, path.join(process.env.BT_BUILD_DIR || '.', bin));

// Any other child a test spawns is killed at exit like the servers.
export function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

// An OTLP JSON span's attributes by key; a JSON-valued one parsed (undefined if absent).
export const spanAttrs = (s) => Object.fromEntries(s.attributes.map((a) => [a.key, Object.values(a.value)[0]]));
export const spanJsonAttr = (s, k) => {
  const v = spanAttrs(s)[k];
  return v === undefined ? undefined : JSON.parse(v);
};

// Ids as the library derives them from a session id: the first n bytes of
// SHA-256(namespace, 0, key), in hex.
export const sessionDerivedId = (ns, key, n) =>
  crypto.createHash('sha256').update(ns).update(Buffer.from([0])).update(key).digest().subarray(0, n).toString('hex');

// SIGTERM, and the exit status must be a clean 0.
export async function stopProxy(p) {
  p.kill('SIGTERM');
  assert.deepEqual(await p.exitPromise, { code: 0, signal: null }, p.stderrText.slice(-2000));
}

// A plain HTTP request returning the raw (never decompressed) body.
export function request(port, { method = 'GET', path: p = '/', headers = {}, body, onFirstChunk, slowStartMs = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, agent: false }, (res) => {
      const chunks = [];
      let first = true;
      if (slowStartMs) {
        res.pause();
        setTimeout(() => res.resume(), slowStartMs);
      }
      res.on('data', (c) => {
        if (first && onFirstChunk) onFirstChunk(c);
        first = false;
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body && typeof body.pipe === 'function') body.pipe(req);
    else req.end(body);
  });
}

// Sends raw bytes; collects the answer until the server closes or `ms` passes.
// `closed` is true when the server ended the connection; `reset` when it reset it.
export function raw(port, data, { ms = 3000, steps } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    let closed = false;
    let reset = false;
    const done = () => { clearTimeout(t); s.destroy(); resolve({ text: got, closed, reset }); };
    const t = setTimeout(done, ms);
    s.on('data', async (d) => {
      got += d.toString('latin1');
      if (steps) await steps(got, s);
    });
    s.on('end', () => { closed = true; done(); });
    s.on('error', () => { closed = true; reset = true; done(); });
    s.on('connect', () => s.write(data));
  });
}

// Decodes a chunked body (as latin1 text).
export function dechunk(text) {
  let out = '';
  let i = 0;
  for (;;) {
    const eol = text.indexOf('\r\n', i);
    assert.ok(eol > i, 'chunk size line');
    const n = parseInt(text.slice(i, eol), 16);
    if (n === 0) return out;
    out += text.slice(eol + 2, eol + 2 + n);
    i = eol + 4 + n;
  }
}

// Splits a raw stream of responses (to requests other than HEAD) into
// [{status, headers, body}], following Content-Length and chunked framing. A response
// cut short ends the list with {incomplete: true}.
export function parseResponses(text) {
  const out = [];
  let i = 0;
  while (i < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', i);
    if (headEnd < 0) { out.push({ incomplete: true, rest: text.slice(i) }); break; }
    const lines = text.slice(i, headEnd).split('\r\n');
    const status = Number(lines[0].split(' ')[1]);
    const headers = {};
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim();
    }
    i = headEnd + 4;
    let body = '';
    if (status === 100) { continue; }
    if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const eol = text.indexOf('\r\n', i);
        if (eol < 0) { out.push({ incomplete: true, status, headers }); return out; }
        const n = parseInt(text.slice(i, eol), 16);
        i = eol + 2;
        if (n === 0) { i += 2; break; }
        body += text.slice(i, i + n);
        i += n + 2;
      }
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (text.length - i < n) { out.push({ incomplete: true, status, headers }); return out; }
      body = text.slice(i, i + n);
      i += n;
    } else if (status !== 204 && status !== 304) {
      body = text.slice(i);
      i = text.length;
    }
    out.push({ status, headers, body });
  }
  return out;
}

// The runner: `await test(name, fn)` for each, then `finish(label)` exits 0 or 1.
const results = [];
export async function test(name, fn) {
  try {
    await fn();
    results.push([name, true]);
    console.log(`ok - ${name}`);
  } catch (e) {
    results.push([name, false]);
    console.log(`not ok - ${name}\n  ${String((e && e.stack) || e).split('\n').slice(0, 8).join('\n  ')}`);
  }
}

export function finish(label) {
  killAll();
  const failed = results.filter(([, ok]) => !ok);
  console.log(`\n${results.length - failed.length}/${results.length} ${label} passed`);
  process.exit(failed.length ? 1 : 0);
}
