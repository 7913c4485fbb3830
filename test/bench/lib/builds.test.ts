/** `--build NAME=DIR` and `--rounds`, the A B A B order, the config-schema check, and loading a build. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIG_SCHEMA } from '@openigd/gateway';
import { abSchedule, DEFAULT_AB_ROUNDS, loadBuild, parseBuilds, schemaAccepts, THIS_CHECKOUT } from './builds.js';

test('no --build: this checkout as "this", one round', () => {
  assert.deepEqual(parseBuilds(undefined, undefined, '/x'), { ok: true, builds: [{ name: 'this', dir: THIS_CHECKOUT }], rounds: 1 });
  assert.deepEqual(parseBuilds([], '4', '/x'), { ok: true, builds: [{ name: 'this', dir: THIS_CHECKOUT }], rounds: 4 });
});

test('builds in the order given, DIR resolved against the working directory; several builds default to 3 rounds', () => {
  const r = parseBuilds(['base=/work/wt-ab-base', 'main=.', 'v0.1_rc-2=../other'], undefined, '/work/wt-bench-ab');
  assert.deepEqual(r, {
    ok: true,
    builds: [{ name: 'base', dir: '/work/wt-ab-base' }, { name: 'main', dir: '/work/wt-bench-ab' }, { name: 'v0.1_rc-2', dir: '/work/other' }],
    rounds: DEFAULT_AB_ROUNDS,
  });
  assert.equal(DEFAULT_AB_ROUNDS, 3);
  const two = parseBuilds(['a=x', 'b=y'], '2', '/');
  assert.ok(two.ok && two.rounds === 2);
  const eq = parseBuilds(['a=dir=with=equals'], undefined, '/');
  assert.ok(eq.ok && eq.builds[0]!.dir === '/dir=with=equals', 'the first = splits');
});

test('bad --build or --rounds is a reason, not an exception', () => {
  const bad: [string[] | undefined, string | undefined, RegExp][] = [
    [['base'], undefined, /NAME=DIR/],
    [['=dir'], undefined, /NAME=DIR/],
    [['base='], undefined, /NAME=DIR/],
    [['a b=dir'], undefined, /NAME=DIR/],
    [['-x=dir'], undefined, /NAME=DIR/],
    [[`${'n'.repeat(33)}=dir`], undefined, /up to 32/],
    [['a=x', 'a=y'], undefined, /"a" is given twice/],
    [['a=1', 'b=2', 'c=3', 'd=4', 'e=5'], undefined, /at most 4/],
    [['a=x', 'b=y'], '1', /from 2 to 10 when builds are compared/],
    [undefined, '0', /from 1 to 10$/],
    [undefined, '11', /from 1 to 10/],
    [undefined, '2.5', /--rounds/],
    [undefined, 'x', /--rounds/],
    [undefined, '', /--rounds/],
  ];
  for (const [builds, rounds, reason] of bad) {
    const r = parseBuilds(builds, rounds, '/');
    assert.equal(r.ok, false, `${builds?.join(' ')} --rounds ${rounds}`);
    assert.match(!r.ok ? r.reason : '', reason);
  }
});

test('the runs alternate between builds, round by round', () => {
  assert.deepEqual(abSchedule(2, 3).map(({ build, round }) => `${'AB'[build]}${round}`), ['A0', 'B0', 'A1', 'B1', 'A2', 'B2']);
  assert.deepEqual(abSchedule(1, 2), [{ build: 0, round: 0 }, { build: 0, round: 1 }]);
  assert.deepEqual(abSchedule(3, 0), []);
});

/** The shape of the config schema's `igd` section before the request limit (commit 7cae5ae). */
const OLD_SCHEMA = {
  type: 'object', additionalProperties: false,
  properties: {
    offload: { type: 'boolean' },
    igd: { type: 'object', additionalProperties: false, properties: { enabled: { type: 'boolean' }, maxMappings: { type: 'integer' } } },
    natpmp: { type: 'object', additionalProperties: false, properties: { enabled: { type: 'boolean' } } },
  },
};

test('a setting goes only to builds whose config schema has its key', () => {
  assert.equal(schemaAccepts(CONFIG_SCHEMA, ['igd', 'requestRate']), true, 'this checkout has the request limit');
  assert.equal(schemaAccepts(CONFIG_SCHEMA, ['offload']), true);
  assert.equal(schemaAccepts(CONFIG_SCHEMA, ['igd', 'noSuchKey']), false);
  assert.equal(schemaAccepts(OLD_SCHEMA, ['igd', 'requestRate']), false);
  assert.equal(schemaAccepts(OLD_SCHEMA, ['igd', 'maxMappings']), true);
  assert.equal(schemaAccepts(OLD_SCHEMA, ['pcp']), false);
  assert.equal(schemaAccepts({ type: 'object', properties: {} }, ['anything', 'below']), true, 'other keys not forbidden');
  assert.equal(schemaAccepts({ properties: { igd: { type: 'boolean' } } }, ['igd', 'x']), true, 'a level without additionalProperties: false forbids nothing');
  assert.equal(schemaAccepts({ properties: { igd: true } }, ['igd', 'x']), false, 'a level that is not an object schema');
  assert.equal(schemaAccepts(null, ['igd']), false);
  assert.equal(schemaAccepts(OLD_SCHEMA, []), true);
  assert.equal(schemaAccepts({ additionalProperties: false, properties: {} }, ['toString']), false, 'inherited names are not keys');
});

test('loading a build: this checkout has the lab and a commit; a directory without a built gateway is a reason', async () => {
  const here = await loadBuild({ name: 'this', dir: THIS_CHECKOUT });
  assert.ok(here.ok, here.ok ? '' : here.reason);
  assert.equal(typeof here.build.gateway.labUp, 'function');
  assert.equal(here.build.gateway.CONFIG_SCHEMA, CONFIG_SCHEMA, 'the same module as the package import');
  assert.match(here.build.commit ?? '', /^[0-9a-f]{7,}( \+ changes)?$/);
  const none = await loadBuild({ name: 'gone', dir: '/nonexistent/openigd' });
  assert.deepEqual(none, { ok: false, reason: '/nonexistent/openigd/gateway/dist/index.js not found (run npm ci and npx tsc -b in /nonexistent/openigd)' });
});
