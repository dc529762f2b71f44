// The official SDK's batch flow against BASE_URL (argv[2]): create a batch, poll it
// until it ends, read its results through the SDK (which follows results_url), and
// print one JSON line: {"id", "results": [custom_id...], "results_url", "polls"}.
// With argv[3] = a batch id, only reads that batch's results.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { default: Anthropic } = require('@anthropic-ai/sdk');

const baseURL = process.argv[2];
const client = new Anthropic({ apiKey: 'sk-ant-api03-CANARY-scaleout-0000000000', baseURL, maxRetries: 0, timeout: 30000 });
const ask = (content) => ({ model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user', content }] });

async function results(id) {
  const out = [];
  for await (const line of await client.messages.batches.results(id)) out.push(line.custom_id);
  return out;
}

if (process.argv[3]) {
  console.log(JSON.stringify({ id: process.argv[3], results: await results(process.argv[3]) }));
} else {
  const requests = ['alpha', 'beta', 'errored-gamma'].map((id) => ({ custom_id: id, params: ask(`Question ${id} for the replicas`) }));
  const created = await client.messages.batches.create({ requests });
  let batch;
  let polls = 0;
  for (; polls < 40; polls++) {
    batch = await client.messages.batches.retrieve(created.id);
    if (batch.processing_status === 'ended') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (batch.processing_status !== 'ended') throw new Error(`batch ${created.id} did not end`);
  console.log(JSON.stringify({ id: created.id, results: await results(created.id), results_url: batch.results_url, polls: polls + 1 }));
}
