/**
 * Fuzz properties of GENA's SUBSCRIBE/UNSUBSCRIBE handling, run by the suite (test/fuzz)
 * and by `npm run fuzz`: sequences of requests whose CALLBACK, NT, TIMEOUT and SID
 * headers are valid, nearly valid or random, from a few sources (one IPv4-mapped), on a
 * clock that moves between them. `handle` never throws and answers only 200, 400, 405,
 * 412 or 503; a granted TIMEOUT lies within the configured bounds; the subscription
 * limits (in all and per address) hold after every request; every subscription's
 * callbacks are http URLs to its own subscriber (the CallStranger rule).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IGD_SERVICE_KEYS } from './declaration.js';
import { GenaPublisher, parseGenaTimeout, type GenaRequest } from './gena.js';

const LIMITS = { maxSubscriptions: 8, maxSubscriptionsPerAddress: 3, min: 60, max: 1800 };
const SOURCES = ['192.168.1.10', '192.168.1.11', '::ffff:192.168.1.12', '10.0.0.1'];
const STATUSES = new Set([200, 400, 405, 412, 503]);

/** A header value: absent, one of the forms that matter, or random text. */
const optional = (...forms: fc.Arbitrary<string>[]): fc.Arbitrary<string | undefined> =>
  fc.oneof(fc.constant(undefined), ...forms, fc.string({ maxLength: 30 }));

const callback = optional(
  fc.tuple(fc.constantFrom(...SOURCES.map((s) => s.replace('::ffff:', '')), '203.0.113.9', 'localhost', '[::1]', '192.168.1.10@evil'),
    fc.constantFrom('http', 'https', 'ftp'), fc.integer({ min: 0, max: 70000 }), fc.constantFrom('', '/', '/e', '/a b', '/%zz'))
    .map(([host, scheme, port, path]) => `<${scheme}://${host}:${port}${path}>`),
  fc.array(fc.constantFrom('<http://192.168.1.10:5000/>', '<http://192.168.1.11/>', '<>', '<<>>', 'http://192.168.1.10/', ' '), { maxLength: 6 })
    .map((parts) => parts.join('')),
);
const nt = optional(fc.constantFrom('upnp:event', ' upnp:event ', 'UPNP:EVENT', 'upnp:propchange', ''));
const timeout = optional(fc.constantFrom('Second-1800', 'Second-infinite', 'second-30', 'Second-0', 'Second-99999999999999999999', 'Second--1', 'Second-1e3', 'Second-'));

interface Op {
  readonly advanceMs: number;
  readonly method: string;
  readonly service: (typeof IGD_SERVICE_KEYS)[number];
  readonly source: string;
  readonly callback: string | undefined;
  readonly nt: string | undefined;
  readonly timeout: string | undefined;
  /** A SID: none, one granted earlier (by index), or text. */
  readonly sid: undefined | number | string;
  readonly publish: boolean;
}

const op: fc.Arbitrary<Op> = fc.record({
  advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2_000_000 })),
  method: fc.constantFrom('SUBSCRIBE', 'SUBSCRIBE', 'UNSUBSCRIBE', 'subscribe', 'NOTIFY', 'GET'),
  service: fc.constantFrom(...IGD_SERVICE_KEYS),
  source: fc.constantFrom(...SOURCES),
  callback, nt, timeout,
  sid: fc.oneof(fc.constant(undefined), fc.nat(20), fc.constantFrom('uuid:unknown', '', ' '), fc.string({ maxLength: 20 })),
  publish: fc.boolean(),
});

function run(ops: readonly Op[]): void {
  let now = 1_000_000;
  let uuid = 0;
  const gena = new GenaPublisher(() => [['ConnectionStatus', 'Connected']], {
    server: 'fuzz', maxSubscriptions: LIMITS.maxSubscriptions, maxSubscriptionsPerAddress: LIMITS.maxSubscriptionsPerAddress,
    timeoutSeconds: { minimum: LIMITS.min, maximum: LIMITS.max, default: 1800 },
  }, {
    now: () => now,
    randomUuid: () => `00000000-0000-4000-8000-${(uuid++).toString(16).padStart(12, '0')}`,
    sendNotify: () => Promise.resolve({ ok: true }),
  });
  const granted: string[] = [];
  for (const o of ops) {
    now += o.advanceMs;
    const sid = typeof o.sid === 'number' ? granted[o.sid % Math.max(1, granted.length)] : o.sid;
    const headers: GenaRequest['headers'] = { callback: o.callback, nt: o.nt, timeout: o.timeout, sid };
    const answer = gena.handle(o.service, { method: o.method, headers, sourceAddress: o.source });
    assert.ok(STATUSES.has(answer.status), `status ${answer.status}`);
    assert.equal(answer.headers.SERVER, 'fuzz');
    if (answer.status === 200 && answer.headers.SID !== undefined) {
      assert.match(answer.headers.SID, /^uuid:[0-9a-f-]{36}$/);
      const seconds = Number(/^Second-(\d+)$/.exec(answer.headers.TIMEOUT ?? '')?.[1]);
      assert.ok(seconds >= LIMITS.min && seconds <= LIMITS.max, `TIMEOUT ${answer.headers.TIMEOUT}`);
      if (!granted.includes(answer.headers.SID)) granted.push(answer.headers.SID);
    }
    if (o.publish) gena.publish(o.service, [['ExternalIPAddress', '203.0.113.2']]);
    const subs = gena.subscriptionList();
    assert.ok(subs.length <= LIMITS.maxSubscriptions);
    const perSource = new Map<string, number>();
    for (const s of subs) {
      perSource.set(s.sourceAddress, (perSource.get(s.sourceAddress) ?? 0) + 1);
      assert.ok(s.expiresAtMs > now, 'an expired subscription is gone');
      for (const cb of s.callbacks) {
        const url = new URL(cb);
        assert.equal(url.protocol, 'http:');
        assert.equal(url.hostname, s.sourceAddress);
      }
    }
    for (const n of perSource.values()) assert.ok(n <= LIMITS.maxSubscriptionsPerAddress);
  }
  void gena.close();
}

export const FUZZ = {
  'gena: SUBSCRIBE/UNSUBSCRIBE sequences (CALLBACK, NT, TIMEOUT, SID)': () => fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), run),
  'gena: TIMEOUT header values': () => fc.property(fc.oneof(timeout, fc.stringMatching(/^\s*[Ss]econd-[0-9a-z]{0,25}\s*$/)), (value) => {
    const t = parseGenaTimeout(value);
    assert.ok(t === undefined || t === Number.POSITIVE_INFINITY || (Number.isFinite(t) && t >= 0), String(t));
  }),
};
