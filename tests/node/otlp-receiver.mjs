// An OTLP/HTTP trace receiver for tests: an independent decoder of what the exporter
// sends. Protobuf bodies are decoded with protobufjs and the code that
// @opentelemetry/otlp-transformer generated from the published opentelemetry-proto
// definitions; JSON bodies are read per the OTLP JSON mapping (hex ids) and passed
// through the same generated message types, so both encodings end up in one shape.
//
// Two listeners on 127.0.0.1, ports chosen by the OS (or --otlp-port N):
//   OTLP:    POST .../v1/traces  (gzip accepted)
//   control: GET  /requests      every OTLP request seen: headers, decoded spans, answer
//            GET  /summary       counts only: requests by status, spans received in
//                                accepted (2xx) requests, distinct span ids among them,
//                                and the ids received more than once
//            POST /script        JSON list of answers for the next OTLP requests, each
//                                {"status":503,"retryAfter":"1"} or
//                                {"status":200,"rejected":2,"message":"..."}, optionally
//                                with "delayMs":N (answer that much later) or
//                                "reset":true (close the connection without an answer);
//                                after the list, requests get the default answer
//            POST /config        {"maxBodyBytes":N} answers 413 to larger bodies (as
//                                received, before gunzip); {"delayMs":N} delays every
//                                default answer; {} restores the defaults
//            POST /reset         forget requests, script and config
//            POST /down          close the OTLP listener (connections are refused)
//            POST /up            listen again on the same port
//            POST /quit          exit
// The first line on stdout is {"otlp":PORT,"control":PORT}. The process exits by itself
// after --lifetime seconds (default 300) so a crashed test cannot leave it behind, and
// when its parent closes stdin.
import http from 'node:http';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root.js');
const pb = root.opentelemetry.proto;
const ExportRequest = pb.collector.trace.v1.ExportTraceServiceRequest;
const ExportResponse = pb.collector.trace.v1.ExportTraceServiceResponse;

const args = process.argv.slice(2);
const argValue = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const lifetimeSec = Number(argValue('--lifetime', '300'));
let otlpPort = Number(argValue('--otlp-port', '0'));

const MAX_BODY = 64 << 20;
const started = Date.now();
let requests = [];
let script = [];
let config = {};

const hex = (b) => (b ? Buffer.from(b).toString('hex') : '');
const int64 = (v) => (v === null || v === undefined ? '0' : v.toString());

function anyValue(v) {
  if (!v) return null;
  if (v.stringValue !== null && v.stringValue !== undefined) return { stringValue: v.stringValue };
  if (v.boolValue !== null && v.boolValue !== undefined) return { boolValue: v.boolValue };
  if (v.intValue !== null && v.intValue !== undefined) return { intValue: int64(v.intValue) };
  if (v.doubleValue !== null && v.doubleValue !== undefined) return { doubleValue: v.doubleValue };
  if (v.arrayValue) return { arrayValue: (v.arrayValue.values || []).map(anyValue) };
  if (v.kvlistValue) return { kvlistValue: attributes(v.kvlistValue.values) };
  if (v.bytesValue) return { bytesValue: hex(v.bytesValue) };
  return {};
}

function attributes(list) {
  const out = {};
  for (const kv of list || []) {
    if (Object.prototype.hasOwnProperty.call(out, kv.key)) out.__duplicate_keys = true;
    out[kv.key] = anyValue(kv.value);
  }
  return out;
}

function normalize(msg) {
  const out = [];
  for (const rs of msg.resourceSpans || []) {
    const resource = attributes(rs.resource ? rs.resource.attributes : []);
    for (const ss of rs.scopeSpans || []) {
      const scope = ss.scope ? { name: ss.scope.name || '', version: ss.scope.version || '' } : null;
      for (const s of ss.spans || []) {
        out.push({
          resource,
          scope,
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          traceState: s.traceState || '',
          name: s.name || '',
          kind: s.kind || 0,
          startTimeUnixNano: int64(s.startTimeUnixNano),
          endTimeUnixNano: int64(s.endTimeUnixNano),
          attributes: attributes(s.attributes),
          events: (s.events || []).map((e) => ({
            name: e.name || '',
            timeUnixNano: int64(e.timeUnixNano),
            attributes: attributes(e.attributes),
          })),
          links: (s.links || []).map((l) => ({
            traceId: hex(l.traceId),
            spanId: hex(l.spanId),
            traceState: l.traceState || '',
            attributes: attributes(l.attributes),
          })),
          status: { code: s.status ? s.status.code || 0 : 0, message: s.status ? s.status.message || '' : '' },
        });
      }
    }
  }
  return out;
}

// OTLP JSON carries ids as hex; the generated fromObject expects bytes as base64 or
// buffers. Convert (strictly: lowercase hex of the right length) before handing over.
function idsFromHex(obj, problems) {
  const conv = (o, key, len) => {
    if (o[key] === undefined || o[key] === '') return;
    if (typeof o[key] !== 'string' || !new RegExp(`^[0-9a-f]{${len * 2}}$`).test(o[key])) {
      problems.push(`${key} is not ${len * 2} lowercase hex digits: ${JSON.stringify(o[key])}`);
      return;
    }
    o[key] = Buffer.from(o[key], 'hex');
  };
  for (const rs of obj.resourceSpans || [])
    for (const ss of rs.scopeSpans || [])
      for (const s of ss.spans || []) {
        conv(s, 'traceId', 16);
        conv(s, 'spanId', 8);
        conv(s, 'parentSpanId', 8);
        for (const l of s.links || []) {
          conv(l, 'traceId', 16);
          conv(l, 'spanId', 8);
        }
        for (const k of ['startTimeUnixNano', 'endTimeUnixNano'])
          if (typeof s[k] !== 'string') problems.push(`${k} is not a string (int64 in OTLP JSON)`);
      }
}

function decode(contentType, body, problems) {
  if (contentType.startsWith('application/x-protobuf')) {
    return normalize(ExportRequest.decode(body));
  }
  if (contentType.startsWith('application/json')) {
    const obj = JSON.parse(body.toString('utf8'));
    idsFromHex(obj, problems);
    const err = ExportRequest.verify(ExportRequest.fromObject(obj));
    if (err) problems.push(err);
    return normalize(ExportRequest.fromObject(obj));
  }
  throw new Error(`unsupported content-type ${contentType}`);
}

function answer(res, isJson, entry) {
  const status = entry.status || 200;
  const headers = {};
  if (entry.retryAfter !== undefined) headers['retry-after'] = String(entry.retryAfter);
  let body;
  if (status >= 200 && status < 300) {
    const partial = entry.rejected !== undefined ? { rejectedSpans: entry.rejected, errorMessage: entry.message || '' } : null;
    if (isJson) {
      headers['content-type'] = 'application/json';
      body = Buffer.from(JSON.stringify(partial ? { partialSuccess: { rejectedSpans: String(partial.rejectedSpans), errorMessage: partial.errorMessage } } : {}));
    } else {
      headers['content-type'] = 'application/x-protobuf';
      body = Buffer.from(ExportResponse.encode(ExportResponse.create(partial ? { partialSuccess: partial } : {})).finish());
    }
  } else {
    headers['content-type'] = 'text/plain';
    body = Buffer.from(entry.body || `scripted ${status}`);
  }
  res.writeHead(status, headers);
  res.end(body);
  return status;
}

function readBody(req, cb) {
  const chunks = [];
  let size = 0;
  let tooBig = false;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) tooBig = true;
    else chunks.push(c);
  });
  req.on('end', () => cb(tooBig ? null : Buffer.concat(chunks)));
}

function onOtlp(req, res) {
  res.on('error', () => {}); // a client that gave up on a delayed answer
  if (req.method !== 'POST' || !req.url.endsWith('/v1/traces')) {
    res.writeHead(404);
    res.end();
    return;
  }
  readBody(req, (raw) => {
    const arrivedMs = Date.now() - started;
    const entry = script.length ? script.shift() : { status: 200, delayMs: config.delayMs };
    if (config.maxBodyBytes && raw && raw.length > config.maxBodyBytes && (entry.status || 200) === 200)
      entry.status = 413;
    const go = () => handle(req, res, raw, entry, arrivedMs);
    if (entry.delayMs) setTimeout(go, entry.delayMs);
    else go();
  });
}

// Records and answers one OTLP request. A client that gave up while the answer was
// delayed does not change what the receiver did with the spans (answered: false).
function handle(req, res, raw, entry, arrivedMs) {
  {
    const rec = {
      receivedMs: arrivedMs,
      answered: !req.socket.destroyed,
      path: req.url,
      headers: req.headers,
      bodyBytes: raw ? raw.length : -1,
      spans: [],
      problems: [],
      status: 0,
    };
    requests.push(rec);
    const contentType = String(req.headers['content-type'] || '');
    const isJson = contentType.startsWith('application/json');
    if (entry.reset) {
      rec.status = -1;
      req.socket.destroy();
      return;
    }
    try {
      if (!raw) throw new Error('body too large');
      let body = raw;
      const enc = String(req.headers['content-encoding'] || 'identity');
      if (enc === 'gzip') body = zlib.gunzipSync(raw);
      else if (enc !== 'identity') throw new Error(`unsupported content-encoding ${enc}`);
      rec.decodedBytes = body.length;
      rec.spans = decode(contentType, body, rec.problems);
    } catch (e) {
      rec.problems.push(String(e && e.message ? e.message : e));
      rec.status = 400;
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(String(e));
      return;
    }
    rec.status = answer(res, isJson, entry);
  }
}

function summary() {
  const byStatus = {};
  const seen = new Map();
  let spans = 0;
  for (const r of requests) {
    byStatus[r.status] = (byStatus[r.status] || 0) + 1;
    if (r.status < 200 || r.status >= 300) continue;
    for (const s of r.spans) {
      spans++;
      const id = `${s.traceId}/${s.spanId}`;
      seen.set(id, (seen.get(id) || 0) + 1);
    }
  }
  const duplicates = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  return { requests: requests.length, byStatus, spans, distinct: seen.size, duplicates, ids: [...seen.keys()] };
}

let otlpServer = null;
const sockets = new Set();
function listenOtlp(cb) {
  otlpServer = http.createServer(onOtlp);
  otlpServer.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  otlpServer.listen(otlpPort, '127.0.0.1', () => {
    otlpPort = otlpServer.address().port;
    cb();
  });
}
function closeOtlp(cb) {
  if (!otlpServer) return cb();
  for (const s of sockets) s.destroy();
  otlpServer.close(() => {
    otlpServer = null;
    cb();
  });
}

function json(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

const control = http.createServer((req, res) => {
  readBody(req, (body) => {
    if (req.method === 'GET' && req.url === '/requests') return json(res, 200, requests);
    if (req.method === 'GET' && req.url === '/summary') return json(res, 200, summary());
    if (req.method === 'POST' && req.url === '/config') {
      try {
        config = JSON.parse(body.toString('utf8') || '{}');
        return json(res, 200, { ok: true });
      } catch (e) {
        return json(res, 400, { error: String(e) });
      }
    }
    if (req.method === 'POST' && req.url === '/script') {
      try {
        script = JSON.parse(body.toString('utf8'));
        return json(res, 200, { ok: true });
      } catch (e) {
        return json(res, 400, { error: String(e) });
      }
    }
    if (req.method === 'POST' && req.url === '/reset') {
      requests = [];
      script = [];
      config = {};
      return json(res, 200, { ok: true });
    }
    if (req.method === 'POST' && req.url === '/down') return closeOtlp(() => json(res, 200, { ok: true }));
    if (req.method === 'POST' && req.url === '/up') {
      if (otlpServer) return json(res, 200, { ok: true });
      return listenOtlp(() => json(res, 200, { ok: true }));
    }
    if (req.method === 'POST' && req.url === '/quit') {
      json(res, 200, { ok: true });
      return setImmediate(() => process.exit(0));
    }
    return json(res, 404, { error: 'unknown' });
  });
});

listenOtlp(() => {
  control.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ otlp: otlpPort, control: control.address().port }) + '\n');
  });
});
setTimeout(() => process.exit(0), lifetimeSec * 1000).unref();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
