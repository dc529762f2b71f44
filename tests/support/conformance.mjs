// Conformance tests in node: call requireFixtures(import.meta.url) first. Without
// ../shared/fixtures (a plain clone) it prints one line and exits 77, which ctest
// reports as skipped (see tests/support/conformance.h).
import { existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

export function fixturesPresent() {
  const dir = `${process.env.BT_SHARED_DIR || ''}/fixtures`;
  return Boolean(process.env.BT_SHARED_DIR) && existsSync(dir) && statSync(dir).isDirectory();
}

export function requireFixtures(testUrl) {
  if (fixturesPresent()) return;
  const name = testUrl ? basename(fileURLToPath(testUrl)) : 'test';
  console.log(`SKIPPED ${name}: conformance test, needs the recorded traffic in ` +
    `${process.env.BT_SHARED_DIR || '../shared'}/fixtures (the shared/ folder beside the checkout; CI has it)`);
  process.exit(77);
}

// For a test with a few conformance steps among others: run them when fixturesPresent(),
// else call this once to print the line saying they were skipped.
export function skippedWithoutFixtures(what, testUrl) {
  const name = testUrl ? basename(fileURLToPath(testUrl)) : 'test';
  console.log(`SKIPPED in ${name}: ${what}: conformance steps, need the recorded traffic in ` +
    `${process.env.BT_SHARED_DIR || '../shared'}/fixtures (the shared/ folder beside the checkout; CI has it)`);
}
