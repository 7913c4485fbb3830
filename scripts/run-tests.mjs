#!/usr/bin/env node
// Finds the compiled test files and runs them with Node's own test runner, so the
// summary lines are node --test's. Node 20 takes no glob arguments, hence this file.
//   --unit   only the unit tests beside the code (packages' dist/, the bench harness's) and the fuzzing (test/dist/fuzz)
//   --e2e    only the end-to-end tests (test/dist/e2e)
//   other arguments are substrings a test file's path must contain.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const e2eOnly = args.includes('--e2e');
const filters = args.filter((a) => !a.startsWith('--'));

function walk(dir, out) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const roots = [];
if (!e2eOnly) roots.push('nat-table/dist', 'igd-service/dist', 'conformance/dist', 'gateway/dist', 'test/dist/bench/lib', 'test/dist/fuzz');
if (!unitOnly) roots.push('test/dist/e2e');
let files = roots.flatMap((r) => walk(join(root, r), [])).sort();
// Matched against the path inside the repository: the checkout's own path may contain the word.
if (filters.length) files = files.filter((f) => filters.some((s) => relative(root, f).includes(s)));
if (files.length === 0) {
  console.error('run-tests: no test files found (did tsc -b run?)');
  process.exit(1);
}
console.log(`run-tests: node ${process.version}, ${files.length} test files`);
const concurrency = process.env.TEST_CONCURRENCY ?? '1';
const r = spawnSync(process.execPath, [
  '--test', `--test-concurrency=${concurrency}`, ...files.map((f) => relative(root, f)),
], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
