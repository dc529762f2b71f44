// Sample traffic for the demo: the official Anthropic SDK (from tests/node) talking to
// ANTHROPIC_BASE_URL (the tracing proxy): a message, a stream with a tool call, and a
// batch from create to results.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'tests', 'node', 'clients.cjs'));
const { Anthropic } = require('@anthropic-ai/sdk');

const client = new Anthropic({ maxRetries: 0, timeout: 30000 });
const MODEL = 'claude-haiku-4-5';
const say = (s) => console.log(`  ${s}`);

const message = await client.messages.create({
  model: MODEL, max_tokens: 256,
  system: 'You are a concise geography tutor.',
  messages: [{ role: 'user', content: 'What is the capital of France?' }],
});
say(`message: ${message.content.filter((b) => b.type === 'text').map((b) => b.text).join(' ')} ` +
    `(${message.usage.input_tokens} in / ${message.usage.output_tokens} out tokens)`);

const stream = client.messages.stream({
  model: MODEL, max_tokens: 256,
  tools: [{
    name: 'get_weather', description: 'Current weather for a city',
    input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  }],
  messages: [{ role: 'user', content: 'What is the weather in Paris right now?' }],
});
let events = 0;
stream.on('streamEvent', () => { events++; });
const streamed = await stream.finalMessage();
const call = streamed.content.find((b) => b.type === 'tool_use');
say(`stream: ${events} events, stop_reason ${streamed.stop_reason}` +
    (call ? `, tool call ${call.name}(${JSON.stringify(call.input)})` : ''));

const batch = await client.messages.batches.create({
  requests: [
    { custom_id: 'capital-france', params: { model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'Capital of France?' }] } },
    { custom_id: 'capital-japan', params: { model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'Capital of Japan?' }] } },
    { custom_id: 'errored-demo', params: { model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'This one fails.' }] } },
  ],
});
say(`batch: created ${batch.id} (${batch.processing_status})`);
let current = batch;
for (let poll = 1; current.processing_status !== 'ended'; poll++) {
  if (poll > 60) throw new Error(`batch ${batch.id} did not end after 60 polls`);
  await new Promise((r) => setTimeout(r, 250));
  current = await client.messages.batches.retrieve(batch.id);
  say(`batch: poll ${poll}: ${current.processing_status}`);
}
const c = current.request_counts;
say(`batch: ended: ${c.succeeded} succeeded, ${c.errored} errored, ${c.canceled} canceled, ${c.expired} expired`);
for await (const line of await client.messages.batches.results(batch.id)) {
  const r = line.result;
  const text = r.type === 'succeeded' ? r.message.content.filter((b) => b.type === 'text').map((b) => b.text).join(' ')
    : r.type === 'errored' ? `${r.error.error?.type ?? r.error.type}` : '';
  say(`batch: result ${line.custom_id}: ${r.type}${text ? ` (${text})` : ''}`);
}
