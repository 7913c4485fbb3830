import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createLogger } from './log.js';

/** A logger whose lines land in an array. */
function capture(level: 'debug' | 'info' | 'warn' | 'error') {
  const lines: string[] = [];
  const log = createLogger(level, (s) => { lines.push(s); });
  return { log, lines };
}

test('JSON lines: the level by name, ts in ISO time, the fields, msg; no pid or hostname', () => {
  const { log, lines } = capture('info');
  log.warn({ sid: 'uuid:1', seq: 0, callbacks: [{ url: 'http://h/', reason: 'ECONNREFUSED' }] }, 'gena: event not delivered');
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.endsWith('\n'));
  const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(entry).sort(), ['callbacks', 'level', 'msg', 'seq', 'sid', 'ts']);
  assert.equal(entry.level, 'warn');
  assert.equal(entry.msg, 'gena: event not delivered');
  assert.match(entry.ts as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(Math.abs(Date.parse(entry.ts as string) - Date.now()) < 60_000);
  assert.deepEqual(entry.callbacks, [{ url: 'http://h/', reason: 'ECONNREFUSED' }]);
  // The lab waits for this exact text in the daemon's log.
  assert.ok(lines[0]!.includes('"msg":"gena: event not delivered"'));
});

test('lines below the level are not written; a message without fields is one too', () => {
  const { log, lines } = capture('warn');
  log.debug({ n: 1 }, 'no');
  log.info('no');
  log.error('yes');
  assert.deepEqual(lines.map((l) => { const { level, msg } = JSON.parse(l) as { level: string; msg: string }; return [level, msg]; }), [['error', 'yes']]);
});

test('fields a plain JSON.stringify would throw on are written, not thrown', () => {
  const { log, lines } = capture('info');
  const circular: Record<string, unknown> = { a: 1 };
  circular.self = circular;
  log.info({ circular, big: 1n }, 'odd fields');
  assert.equal(lines.length, 1);
  assert.equal((JSON.parse(lines[0]!) as { msg: string }).msg, 'odd fields');
});

test('--log pretty: pino-pretty writes a readable line (level name, message, fields), not JSON', () => {
  const script = `import { openLogger } from ${JSON.stringify(new URL('./log.js', import.meta.url).href)};
    const log = await openLogger('info', 'pretty');
    log.info({ address: '203.0.113.2/24' }, 'wan address changed');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: wan address changed\n {4}address: "203\.0\.113\.2\/24"\n$/);
});
