/**
 * The `openigd` command as a process (through the bin shim): help, usage errors and exit
 * codes, and the admin commands against a real admin API server on a Unix socket and on
 * TCP with a token. The lab test (test/e2e/cli.test.ts) checks them against a running gateway.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAdminServer, type AdminServer, type WanChange } from '../admin/admin-api.js';
import { statusFixture } from '../testing/index.js';
import { COMMANDS } from './commands.js';
import { helpOf } from './args.js';

const BIN = fileURLToPath(new URL('../../bin/openigd.js', import.meta.url));
const TOKEN = 'cli-test-token-0123456789';

interface Ran { code: number; stdout: string; stderr: string }

function openigd(args: readonly string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 20_000, env: { ...process.env, OPENIGD_SOCKET: '', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

let dir: string;
let server: AdminServer;
const changes: WanChange[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oi-cli-'));
  await writeFile(join(dir, 'token'), `${TOKEN}\n`);
  server = await startAdminServer(join(dir, 'admin.sock'), {
    status: statusFixture,
    flows: () => ({ total: 0, offset: 0, flows: [] }),
    mappings: () => [],
    addMapping: async () => ({ ok: false, status: 409, error: 'port 8080 is taken' }),
    updateMapping: async () => ({ ok: false, status: 404, error: 'no such mapping' }),
    deleteMapping: async () => ({ ok: false, status: 404, error: 'no such mapping' }),
    leases: () => [],
    capture: () => ({ running: false, dir: '/nowhere', files: [] }),
    setCapture: async () => { throw new Error('cannot create /nowhere'); },
    setWan: async (c) => { changes.push(c); },
  }, { host: '127.0.0.1', port: 0, token: TOKEN });
});
after(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

test('--help: the list of commands, and each command\'s own help, exit 0', async () => {
  const top = await openigd(['--help']);
  assert.equal(top.code, 0);
  for (const c of COMMANDS) assert.match(top.stdout, new RegExp(`^  ${c.name} +\\S`, 'm'));
  for (const c of COMMANDS) {
    const r = await openigd([c.name, '--help']);
    assert.equal(r.code, 0, c.name);
    assert.equal(r.stdout, await helpOf(c));
    assert.match(r.stdout, new RegExp(`^usage: openigd ${c.name}\\b`));
  }
  assert.equal((await openigd(['mappings', 'add', '-h'])).stdout, await helpOf(COMMANDS.find((c) => c.name === 'mappings')!));
});

test('usage errors: one line on stderr, exit 2, nothing sent', async () => {
  const cases: [string[], RegExp][] = [
    [[], /^usage: openigd COMMAND/],
    [['frobnicate'], /^openigd: unknown command "frobnicate" \(openigd --help\)\n$/],
    [['flows', '--proto', 'sctp'], /^openigd flows: --proto must be one of tcp, udp, icmp, not "sctp" \(openigd flows --help\)\n$/],
    [['flows', '--port', '70000'], /^openigd flows: --port must be an integer 0-65535, not "70000"/],
    [['flows', '--colour'], /^openigd flows: Unknown option '--colour'/],
    [['mappings', 'add', 'tcp', '8080'], /^openigd mappings add: expects PROTO EXTPORT CLIENT:PORT, got "tcp 8080"/],
    [['mappings', 'add', 'sctp', '8080', '192.168.1.2:80'], /^openigd mappings add: PROTO must be one of TCP, UDP, not "sctp"/],
    [['mappings', 'rm', 'tcp', '0'], /^openigd mappings rm: EXTPORT must be an integer 1-65535, not "0"/],
    [['mappings', 'frob'], /^openigd mappings: unknown verb "frob"/],
    [['mappings', 'rm', 'tcp', '80', '--lease', '5'], /^openigd mappings rm: --lease, --description and --disabled go with add/],
    [['wan', 'set', '203.0.113.7'], /^openigd wan set: ADDR\/LEN must be a\.b\.c\.d\/n/],
    [['wan', 'set', '203.0.113.7/24', '203.0.113.300'], /^openigd wan set: GW must be an IPv4 address/],
    [['capture', 'pause'], /^openigd capture: unknown verb "pause"/],
    [['run'], /^openigd run: needs --config FILE/],
    [['run', '--config', 'x.yaml', '--log', 'xml'], /^openigd run: --log must be one of json, pretty, not "xml"/],
    [['lab', 'sideways'], /^openigd lab: unknown verb "sideways"/],
    [['status', '--socket', 'a', '--admin', 'http://127.0.0.1:1'], /^openigd status: give --socket or --admin, not both/],
    [['status', '--admin', 'http://127.0.0.1:1'], /^openigd status: --admin needs --token-file FILE/],
  ];
  for (const [args, stderr] of cases) {
    const r = await openigd(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, stderr, args.join(' '));
    if (args.length) assert.equal(r.stderr.split('\n').length, 2, r.stderr);
  }
  assert.equal(changes.length, 0);
});

test('status and wan set over the socket: a table, and --json as the API sent it', async () => {
  const sock = server.socketPath;
  const table = await openigd(['status', '--socket', sock]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^wan +203\.0\.113\.2\/24 via 203\.0\.113\.1/m);
  const json = await openigd(['status', '--socket', sock, '--json']);
  assert.deepEqual(JSON.parse(json.stdout), JSON.parse(JSON.stringify(statusFixture())));
  const set = await openigd(['wan', 'set', '203.0.113.9/24', '203.0.113.1'], { OPENIGD_SOCKET: sock });
  assert.equal(set.code, 0, set.stderr);
  assert.equal(set.stdout, 'wan 203.0.113.9/24 via 203.0.113.1\n');
  assert.deepEqual(changes.at(-1), { address: '203.0.113.9', prefixLength: 24, gateway: '203.0.113.1' });
});

test('TCP with the token file works; a wrong token is the API\'s 401 in one line, exit 1', async () => {
  const url = `http://127.0.0.1:${server.tcp!.port}`;
  const ok = await openigd(['status', '--json', '--admin', url, '--token-file', join(dir, 'token')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((JSON.parse(ok.stdout) as { lan: { address: string } }).lan.address, '192.168.1.1/24');
  await writeFile(join(dir, 'wrong'), 'not-the-token-at-all\n');
  const bad = await openigd(['status', '--admin', url, '--token-file', join(dir, 'wrong')]);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, 'openigd: Authorization: Bearer <admin token> is required (GET /status: HTTP 401)\n');
});

test('failures: the API\'s refusal, a missing socket, a missing lab; one line each, exit 1', async () => {
  const refused = await openigd(['wan', 'set', '203.0.113.9/24', '--socket', server.socketPath]);
  assert.equal(refused.code, 0, 'without GW the change is accepted');
  const gone = await openigd(['status', '--socket', join(dir, 'none.sock')]);
  assert.equal(gone.code, 1);
  assert.equal(gone.stderr, `openigd: cannot reach the admin API at ${join(dir, 'none.sock')}: no such socket (is the gateway running?)\n`);
  const noLab = await openigd(['flows', '--prefix', 'oi-nolab', '--dir', dir]);
  assert.equal(noLab.code, 1);
  assert.equal(noLab.stderr, 'openigd: no admin socket: give --socket PATH, --config FILE or --admin URL (and no lab "oi-nolab" is up)\n');
  const taken = await openigd(['mappings', 'add', 'tcp', '8080', '192.168.1.100:80', '--socket', server.socketPath]);
  assert.equal(taken.code, 1);
  assert.equal(taken.stderr, 'openigd: port 8080 is taken (POST /mappings: HTTP 409)\n');
  const absent = await openigd(['mappings', 'disable', 'udp', '5000', '--socket', server.socketPath]);
  assert.equal(absent.stderr, 'openigd: no such mapping (PATCH /mappings/UDP/5000: HTTP 404)\n');
  const capture = await openigd(['capture', 'start', '--socket', server.socketPath]);
  assert.equal(capture.code, 1);
  assert.equal(capture.stderr, 'openigd: cannot create /nowhere (POST /capture: HTTP 409)\n');
});
