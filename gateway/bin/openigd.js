#!/usr/bin/env node
// The `openigd` command. npm links a package's bin when it installs, before anything is
// built, so the bin is this committed file rather than the compiled dist/cli.js (which
// `npm ci` builds afterwards, in the root package's `prepare`). It runs the compiled CLI,
// or says how to build it when it is not there (after `npm ci --ignore-scripts`, `npm run
// clean`; tsc -b does not notice a dist/ deleted by hand, hence the clean in the message).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (existsSync(cli)) {
  await import(cli.href);
} else {
  process.stderr.write('openigd: not built: run `npm run build` in the repository (`npm run clean` first if dist/ was deleted by hand)\n');
  process.exitCode = 1;
}
