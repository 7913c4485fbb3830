#!/usr/bin/env node
// Builds the TAP addon (tap.c) with node-gyp; run by `npm ci` as the gateway's install
// script. node-gyp needs the headers of the Node that builds: when they are installed
// beside it (<prefix>/include/node, as in the official tarballs and Debian's nodejs),
// they are used, so no download from nodejs.org is needed; an explicit nodedir (npm
// config) wins; otherwise node-gyp downloads them as usual. N-API: one build serves
// every Node version from 20 on. It must not do anything but build: no other files touched.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const args = ['rebuild'];
if (!process.env.npm_config_nodedir) {
  const prefix = join(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
}
// npm points npm_config_node_gyp at its bundled node-gyp; outside npm, try the node-gyp
// bundled with the npm installed beside this Node, then the one on PATH.
const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const gyp = process.env.npm_config_node_gyp ?? (existsSync(bundled) ? bundled : undefined);
const r = gyp
  ? spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit' });
if (r.error) console.error(`openigd: cannot run node-gyp to build the TAP addon: ${r.error.message}`);
process.exit(r.status ?? 1);
