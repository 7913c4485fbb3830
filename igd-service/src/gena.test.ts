/**
 * GENA: SUBSCRIBE / renew / UNSUBSCRIBE answers, CallStranger refusals, bounds, expiry,
 * SEQ order and wrap, failing and slow subscribers dropped — with a recording sender and a
 * manual clock — and one NOTIFY over real HTTP to a node:http server on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GENA_SEQ_MAX, GenaPublisher, buildPropertySet, checkGenaCallbacks, parseGenaTimeout, sendNotifyHttp } from './gena.js';
import type { GenaNotify, GenaNotifyFailure, GenaOptions, GenaRequest } from './gena.js';
import { ManualClock } from './testing/index.js';

const SOURCE = '192.168.1.10';

function sub(headers: Record<string, string>, sourceAddress = SOURCE, method = 'SUBSCRIBE'): GenaRequest {
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
  return { method, headers: lower, sourceAddress };
}

function setup(options: Partial<GenaOptions> = {}, answer: (n: GenaNotify) => boolean = () => true) {
  const clock = new ManualClock();
  const sent: GenaNotify[] = [];
  const failures: GenaNotifyFailure[] = [];
  let uuid = 0;
  const gena = new GenaPublisher(
    (service) => (service === 'wanIpConnection' ? [['ExternalIPAddress', '203.0.113.1'], ['PortMappingNumberOfEntries', '0']] : [['PhysicalLinkStatus', 'Up']]),
    { server: 'Test/1 UPnP/1.0 OpenIGD/0.1', ...options },
    {
      now: clock.now,
      randomUuid: () => `00000000-0000-4000-8000-${String(++uuid).padStart(12, '0')}`,
      sendNotify: (n) => {
        sent.push(n);
        return Promise.resolve(answer(n) ? { ok: true } : { ok: false, reason: 'HTTP 500' });
      },
      onNotifyFailed: (f) => failures.push(f),
    },
  );
  return { gena, clock, sent, failures };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('SUBSCRIBE: 200 with SID and the granted TIMEOUT; initial event SEQ 0 only after the answer', async () => {
  const { gena, sent } = setup();
  const answer = gena.handle('wanIpConnection', sub({ CALLBACK: `<http://${SOURCE}:5000/notify>`, NT: 'upnp:event', TIMEOUT: 'Second-300' }));
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.SID, 'uuid:00000000-0000-4000-8000-000000000001');
  assert.equal(answer.headers.TIMEOUT, 'Second-300');
  await settle();
  assert.equal(sent.length, 0);
  answer.afterResponse?.();
  await settle();
  assert.equal(sent.length, 1);
  assert.equal(sent[0].url.href, `http://${SOURCE}:5000/notify`);
  assert.deepEqual(sent[0].headers, {
    'CONTENT-TYPE': 'text/xml; charset="utf-8"', NT: 'upnp:event', NTS: 'upnp:propchange',
    SID: 'uuid:00000000-0000-4000-8000-000000000001', SEQ: '0',
  });
  assert.equal(sent[0].body, buildPropertySet([['ExternalIPAddress', '203.0.113.1'], ['PortMappingNumberOfEntries', '0']]));
});

test('publish: SEQ increases per subscription, only for that service', async () => {
  const { gena, sent } = setup();
  const a = gena.handle('wanIpConnection', sub({ CALLBACK: `<http://${SOURCE}:5000/a>`, NT: 'upnp:event' }));
  const b = gena.handle('wanCommonInterfaceConfig', sub({ CALLBACK: `<http://${SOURCE}:5000/b>`, NT: 'upnp:event' }));
  a.afterResponse?.();
  b.afterResponse?.();
  gena.publish('wanIpConnection', [['PortMappingNumberOfEntries', '1']]);
  gena.publish('wanIpConnection', [['PortMappingNumberOfEntries', '2']]);
  for (let i = 0; i < 5; i++) await settle();
  const toA = sent.filter((n) => n.url.pathname === '/a').map((n) => n.headers.SEQ);
  const toB = sent.filter((n) => n.url.pathname === '/b').map((n) => n.headers.SEQ);
  assert.deepEqual(toA, ['0', '1', '2']);
  assert.deepEqual(toB, ['0']);
});

test('renew with SID: new TIMEOUT; unknown SID 412; SID with CALLBACK or NT 400', () => {
  const { gena, clock } = setup();
  const first = gena.handle('wanIpConnection', sub({ CALLBACK: `<http://${SOURCE}/>`, NT: 'upnp:event', TIMEOUT: 'Second-100' }));
  const sid = first.headers.SID;
  clock.advance(90_000);
  const renew = gena.handle('wanIpConnection', sub({ SID: sid, TIMEOUT: 'Second-200' }));
  assert.deepEqual([renew.status, renew.headers.SID, renew.headers.TIMEOUT], [200, sid, 'Second-200']);
  clock.advance(150_000);
  assert.equal(gena.stats().subscriptions, 1);
  assert.equal(gena.handle('wanIpConnection', sub({ SID: 'uuid:nope' })).status, 412);
  assert.equal(gena.handle('layer3Forwarding', sub({ SID: sid })).status, 412);
  assert.equal(gena.handle('wanIpConnection', sub({ SID: sid, NT: 'upnp:event' })).status, 400);
  assert.equal(gena.handle('wanIpConnection', sub({ SID: sid, CALLBACK: `<http://${SOURCE}/>` })).status, 400);
});

test('UNSUBSCRIBE: 200 then 412; missing SID 412; with NT 400', () => {
  const { gena } = setup();
  const sid = gena.handle('wanIpConnection', sub({ CALLBACK: `<http://${SOURCE}/>`, NT: 'upnp:event' })).headers.SID;
  assert.equal(gena.handle('wanIpConnection', sub({ SID: sid, NT: 'upnp:event' }, SOURCE, 'UNSUBSCRIBE')).status, 400);
  assert.equal(gena.handle('wanIpConnection', sub({ SID: sid }, SOURCE, 'UNSUBSCRIBE')).status, 200);
  assert.equal(gena.handle('wanIpConnection', sub({ SID: sid }, SOURCE, 'UNSUBSCRIBE')).status, 412);
  assert.equal(gena.handle('wanIpConnection', sub({}, SOURCE, 'UNSUBSCRIBE')).status, 412);
  assert.equal(gena.stats().subscriptions, 0);
});

test('SUBSCRIBE preconditions: NT must be upnp:event, CALLBACK present and well-formed → else 412', () => {
  const { gena } = setup();
  const cases: Array<Record<string, string>> = [
    { CALLBACK: `<http://${SOURCE}/>` },
    { CALLBACK: `<http://${SOURCE}/>`, NT: 'ssdp:alive' },
    { NT: 'upnp:event' },
    { CALLBACK: `http://${SOURCE}/`, NT: 'upnp:event' },
    { CALLBACK: '<>', NT: 'upnp:event' },
    { CALLBACK: '<not a url>', NT: 'upnp:event' },
  ];
  for (const headers of cases) {
    assert.equal(gena.handle('wanIpConnection', sub(headers)).status, 412, JSON.stringify(headers));
  }
  assert.equal(gena.stats().subscriptions, 0);
});

test('CallStranger (CVE-2020-12695): callbacks only to the subscriber\'s own address over http', () => {
  const ok = (v: string, source = SOURCE) => checkGenaCallbacks(v, source, 4).ok;
  assert.equal(ok(`<http://${SOURCE}:49152/cb>`), true);
  assert.equal(ok(`<http://${SOURCE}:49152/cb>`, `::ffff:${SOURCE}`), true);
  assert.equal(ok(`<http://${SOURCE}/a><http://${SOURCE}:81/b>`), true);
  assert.equal(ok('<http://192.168.1.11/cb>'), false);
  assert.equal(ok('<http://198.51.100.9/cb>'), false);
  assert.equal(ok(`<http://${SOURCE}/a><http://198.51.100.9/b>`), false);
  assert.equal(ok(`<https://${SOURCE}/cb>`), false);
  assert.equal(ok(`<http://user:pw@${SOURCE}/cb>`), false);
  assert.equal(ok('<http://router.lan/cb>'), false);
  assert.equal(ok(`<http://${SOURCE}/1><http://${SOURCE}/2><http://${SOURCE}/3><http://${SOURCE}/4><http://${SOURCE}/5>`), false);
  const { gena } = setup();
  assert.equal(gena.handle('wanIpConnection', sub({ CALLBACK: '<http://198.51.100.9:80/>', NT: 'upnp:event' })).status, 412);
  assert.equal(gena.stats().refusedCallStranger, 1);
});

test('TIMEOUT: parsed, clamped to the bounds, default when absent or malformed', () => {
  assert.equal(parseGenaTimeout('Second-1800'), 1800);
  assert.equal(parseGenaTimeout('second-infinite'), Number.POSITIVE_INFINITY);
  assert.equal(parseGenaTimeout('Minute-5'), undefined);
  const { gena } = setup({ timeoutSeconds: { minimum: 60, maximum: 1800, default: 900 } });
  const granted = (t?: string) => gena.handle('wanIpConnection',
    sub({ CALLBACK: `<http://${SOURCE}/>`, NT: 'upnp:event', ...(t === undefined ? {} : { TIMEOUT: t }) })).headers.TIMEOUT;
  assert.equal(granted('Second-1'), 'Second-60');
  assert.equal(granted('Second-infinite'), 'Second-1800');
  assert.equal(granted('Second-99999999999'), 'Second-1800');
  assert.equal(granted(), 'Second-900');
  assert.equal(granted('bogus'), 'Second-900');
});

test('subscriptions expire with the clock', () => {
  const { gena, clock } = setup();
  gena.handle('wanIpConnection', sub({ CALLBACK: `<http://${SOURCE}/>`, NT: 'upnp:event', TIMEOUT: 'Second-60' }));
  clock.advance(59_999);
  assert.equal(gena.expire(), 0);
  clock.advance(1);
  assert.equal(gena.expire(), 1);
  assert.equal(gena.stats().subscriptions, 0);
});

test('bounded: total and per source address → 503', () => {
  const { gena } = setup({ maxSubscriptions: 3, maxSubscriptionsPerAddress: 2 });
  const from = (addr: string) => gena.handle('wanIpConnection', sub({ CALLBACK: `<http://${addr}/>`, NT: 'upnp:event' }, addr)).status;
  assert.deepEqual([from(SOURCE), from(SOURCE), from(SOURCE)], [200, 200, 503]);
  assert.deepEqual([from('192.168.1.11'), from('192.168.1.12')], [200, 503]);
});

test('SEQ wraps from 4294967295 to 1, never back to 0', () => {
  const { gena } = setup();
  gena.handle('wanIpConnection', sub({ CALLBACK: `<http://${SOURCE}/>`, NT: 'upnp:event' }));
  const internal = (gena as unknown as { subscriptions: Map<string, { nextSeq: number; queue: Array<{ seq: number }>; held: boolean }> }).subscriptions;
  const s = [...internal.values()][0];
  s.queue.length = 0;
  s.nextSeq = GENA_SEQ_MAX;
  gena.publish('wanIpConnection', [['PortMappingNumberOfEntries', '1']]);
  gena.publish('wanIpConnection', [['PortMappingNumberOfEntries', '2']]);
  assert.deepEqual(s.queue.map((e) => e.seq), [GENA_SEQ_MAX, 1]);
});

test('a subscriber failing maxDeliveryFailures NOTIFYs in a row is dropped; other callbacks are tried first', async () => {
  const { gena, sent, failures } = setup({ maxDeliveryFailures: 2 }, (n) => n.url.pathname === '/works');
  const good = gena.handle('wanIpConnection', sub({ CALLBACK: `<http://${SOURCE}/broken><http://${SOURCE}/works>`, NT: 'upnp:event' }));
  good.afterResponse?.();
  const bad = gena.handle('wanIpConnection', sub({ CALLBACK: `<http://${SOURCE}/broken>`, NT: 'upnp:event' }));
  bad.afterResponse?.();
  for (let i = 0; i < 5; i++) await settle();
  gena.publish('wanIpConnection', [['PortMappingNumberOfEntries', '1']]);
  for (let i = 0; i < 10; i++) await settle();
  assert.deepEqual(gena.subscriptionList().map((s) => s.sid), [good.headers.SID]);
  assert.equal(gena.stats().droppedFailing, 1);
  assert.ok(sent.some((n) => n.url.pathname === '/works' && n.headers.SEQ === '1'));
  // The operator hears of each undelivered event, the initial one included, with the URL and why.
  assert.deepEqual(failures, [
    { sid: bad.headers.SID, service: 'wanIpConnection', seq: 0, attempts: [{ url: `http://${SOURCE}/broken`, reason: 'HTTP 500' }], failuresInARow: 1, dropped: false },
    { sid: bad.headers.SID, service: 'wanIpConnection', seq: 1, attempts: [{ url: `http://${SOURCE}/broken`, reason: 'HTTP 500' }], failuresInARow: 2, dropped: true },
  ]);
});

test('a subscriber that falls maxQueuedEvents behind is dropped', () => {
  const { gena } = setup({ maxQueuedEvents: 3 });
  gena.handle('wanIpConnection', sub({ CALLBACK: `<http://${SOURCE}/>`, NT: 'upnp:event' }));
  for (let i = 0; i < 3; i++) gena.publish('wanIpConnection', [['PortMappingNumberOfEntries', String(i)]]);
  assert.equal(gena.stats().subscriptions, 0);
  assert.equal(gena.stats().droppedSlow, 1);
});

test('closed: refuses new subscriptions', async () => {
  const { gena } = setup();
  await gena.close();
  assert.equal(gena.handle('wanIpConnection', sub({ CALLBACK: `<http://${SOURCE}/>`, NT: 'upnp:event' })).status, 503);
});

test('NOTIFY over real HTTP: method, headers and body as the callback server receives them; timeouts bounded', async () => {
  const received: Array<{ method: string; url: string; headers: Record<string, unknown>; body: string }> = [];
  let stall = false;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (stall) return;
      res.writeHead(200, { 'Content-Length': 0 });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const abort = new AbortController();
  try {
    const url = new URL(`http://127.0.0.1:${port}/event?x=1`);
    const body = buildPropertySet([['PortMappingNumberOfEntries', '3']]);
    const delivered = await sendNotifyHttp({
      url, body, timeoutMs: 2000, signal: abort.signal,
      headers: { 'CONTENT-TYPE': 'text/xml; charset="utf-8"', NT: 'upnp:event', NTS: 'upnp:propchange', SID: 'uuid:x', SEQ: '7' },
    });
    assert.deepEqual(delivered, { ok: true });
    assert.equal(received[0].method, 'NOTIFY');
    assert.equal(received[0].url, '/event?x=1');
    assert.equal(received[0].headers.host, `127.0.0.1:${port}`);
    assert.equal(received[0].headers['content-type'], 'text/xml; charset="utf-8"');
    assert.equal(received[0].headers.nts, 'upnp:propchange');
    assert.equal(received[0].headers.seq, '7');
    assert.equal(received[0].body, '<?xml version="1.0"?><e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">'
      + '<e:property><PortMappingNumberOfEntries>3</PortMappingNumberOfEntries></e:property></e:propertyset>');

    stall = true;
    const started = Date.now();
    assert.deepEqual(await sendNotifyHttp({ url, body, timeoutMs: 200, signal: abort.signal, headers: {} }), { ok: false, reason: 'timed out after 200 ms' });
    assert.ok(Date.now() - started < 2000);
    server.closeAllConnections();
    const closedPort = new URL('http://127.0.0.1:9/');
    assert.deepEqual(await sendNotifyHttp({ url: closedPort, body, timeoutMs: 1000, signal: abort.signal, headers: {} }), { ok: false, reason: 'ECONNREFUSED' });
  } finally {
    abort.abort();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
