// Braintrust's own JS tracer, measured on the same bytes as the C tracer (driven by
// bench/exchange.c). For each call shape the official SDK (@anthropic-ai/sdk) calls a
// mock fetch that answers with the recorded response bytes, once plain and once wrapped
// with braintrust's wrapAnthropic, logging to braintrust's in-memory test logger (no
// network). The tracing overhead is wrapped minus plain, in CPU time.
//
// Protocol (stdin/stdout, one line each): "run <shape> <iterations>" answers
// "<plain_us> <wrapped_us>" (CPU microseconds per call, plain and wrapped measured
// interleaved in the same round); "quit" exits. <shape> names files in the directory
// given as argv[2]: <shape>.request (the request body, JSON) and <shape>.response (the
// response body; SSE when the request streams).
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import Anthropic from "@anthropic-ai/sdk";
import { initLogger, wrapAnthropic, _exportsForTestingOnly } from "braintrust";

const dir = process.argv[2];

_exportsForTestingOnly.setInitialTestState();
await _exportsForTestingOnly.simulateLoginForTests();
const testLogger = _exportsForTestingOnly.useTestBackgroundLogger();
initLogger({ projectName: "bench", projectId: "bench-project-id" });

const shapes = new Map();
function shape(name) {
  if (!shapes.has(name)) {
    const params = JSON.parse(readFileSync(`${dir}/${name}.request`, "utf8"));
    const body = readFileSync(`${dir}/${name}.response`);
    const headers = {
      "content-type": params.stream ? "text/event-stream" : "application/json",
      "request-id": "req_bench",
    };
    const fetch = async () => new Response(body, { status: 200, headers });
    const options = { apiKey: "sk-ant-bench", fetch, maxRetries: 0 };
    shapes.set(name, {
      params,
      plain: new Anthropic(options),
      wrapped: wrapAnthropic(new Anthropic(options)),
    });
  }
  return shapes.get(name);
}

async function call(client, params, traced) {
  if (params.stream) {
    const stream = await client.messages.create(params);
    for await (const event of stream) void event;
  } else {
    await client.messages.create(params);
  }
  // the spans go to the in-memory logger; draining it is the logger's own work
  if (traced) await testLogger.drain();
}

function cpuMicros() {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function measure(client, params, traced, iterations) {
  const t0 = cpuMicros();
  for (let i = 0; i < iterations; i++) await call(client, params, traced);
  return (cpuMicros() - t0) / iterations;
}

async function run(name, iterations) {
  const s = shape(name);
  // warm both paths up (JIT) before the first measured round of a shape
  if (!s.warm) {
    await measure(s.plain, s.params, false, Math.min(iterations, 200));
    await measure(s.wrapped, s.params, true, Math.min(iterations, 200));
    s.warm = true;
  }
  const plain = await measure(s.plain, s.params, false, iterations);
  const wrapped = await measure(s.wrapped, s.params, true, iterations);
  return `${plain.toFixed(2)} ${wrapped.toFixed(2)}`;
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, name, n] = line.trim().split(/\s+/);
  if (cmd === "quit") break;
  if (cmd === "run") {
    try {
      process.stdout.write((await run(name, Number(n))) + "\n");
    } catch (e) {
      process.stdout.write(`error ${String(e && e.message ? e.message : e).replace(/\s+/g, " ")}\n`);
    }
  }
}
process.exit(0);
