/**
 * Issue 13, acceptance 4's last part: on a fresh clone of this repository's HEAD,
 * `npm ci` and then `npx openigd --help` works (npm links the committed bin shim, and
 * the root's `prepare` builds what it runs). `npm ci` takes the packages from npm's
 * cache when they are there (`--prefer-offline`: CI's own `npm ci` filled it).
 * Only committed work is cloned; the clone is removed at the end, failed or not.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sh } from '../lib/ns.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const gitCheckout = (await sh(null, 'git', ['-C', ROOT, 'rev-parse', '--is-inside-work-tree'], 10_000).catch(() => ({ code: 1 }))).code === 0;

describe('npx openigd works right after npm ci on a fresh clone (issue 13)', { skip: gitCheckout ? false : 'not a git checkout' }, () => {
  let dir: string;
  let clone: string;
  /** The environment of the clone's commands: this Node first on PATH, so `npx` runs the bin with it. */
  const env = `PATH=${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
  const inClone = (cmd: string, timeoutMs = 30_000) => sh(null, 'sh', ['-c', `cd '${clone}' && env ${env} ${cmd}`], timeoutMs);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oi-clone-'));
    clone = join(dir, 'openigd');
    const cloned = await sh(null, 'git', ['clone', '-q', '--no-hardlinks', ROOT, clone], 120_000);
    assert.equal(cloned.code, 0, cloned.stderr);
    const ci = await inClone('npm ci --prefer-offline --no-audit --no-fund', 600_000);
    assert.equal(ci.code, 0, `npm ci: ${ci.stdout.slice(-2000)}${ci.stderr.slice(-2000)}`);
  });
  after(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

  test('the bin npm linked is the committed shim', async () => {
    assert.equal(await readlink(join(clone, 'node_modules', '.bin', 'openigd')), '../@openigd/gateway/bin/openigd.js');
  });

  test('npx openigd --help lists the commands; a subcommand\'s help and a failure work too', async () => {
    const help = await inClone('npx --no-install openigd --help');
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^usage: openigd COMMAND/);
    for (const name of ['run', 'lab', 'status', 'flows', 'mappings', 'leases', 'wan', 'capture']) assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'));
    const sub = await inClone('npx --no-install openigd flows --help');
    assert.equal(sub.code, 0, sub.stderr);
    assert.match(sub.stdout, /^usage: openigd flows /);
    const gone = await inClone(`npx --no-install openigd status --socket '${join(dir, 'none.sock')}'`);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^openigd: cannot reach the admin API at .*: no such socket/);
  });

  test('without the build, the shim says how to make one', async () => {
    await rm(join(clone, 'gateway', 'dist', 'cli.js'));
    const r = await inClone('npx --no-install openigd --help');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^openigd: not built: run `npm run build` in the repository/);
    assert.equal(r.stderr.split('\n').length, 2, 'one line');
  });
});
