/**
 * The IGD over real HTTP on 127.0.0.1 (port 0), with exact request bytes:
 *   - the sequence a Windows XP NAT traversal client sends, from the description fetch on,
 *     checking every response field (issue 4 acceptance 2);
 *   - every fault code provoked by a request (acceptance 6);
 *   - hardening: 413, DOCTYPE, corrupt bodies, wrong methods, slow clients;
 *   - GENA: subscribe, initial event, NOTIFY on add and on an external address change with
 *     SEQ increasing, renew, unsubscribe, 412 CallStranger — with a node:http callback server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer as createNetServer } from 'node:net';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { IGD_SERVICES } from './declaration.js';
import { startIgdHttpServer } from './http-server.js';
import type { IgdActionRecord, IgdHttpServer, IgdHttpServerOptions } from './http-server.js';
import { Igd } from './igd.js';
import type { AccessPolicy } from './mapping-rules.js';
import { MemoryPortMappingBackend, ManualClock, MemoryMappingStore, child, childrenNamed, parseXml, path, rawHttp, soapBody, soapRequest } from './testing/index.js';
import { MappingService } from './mapping/mapping-service.js';
import type { RawResponse, XmlNode } from './testing/index.js';

const ROOT_UUID = '0b0a0c0d-1111-4222-8333-444455556666';
const WANIP = IGD_SERVICES.wanIpConnection;
const CONTENT_TYPE = 'text/xml; charset="utf-8"';

interface Fixture {
  readonly server: IgdHttpServer;
  readonly igd: Igd;
  readonly store: MemoryMappingStore;
  readonly backend: MemoryPortMappingBackend;
  readonly clock: ManualClock;
  readonly records: IgdActionRecord[];
}

async function withIgd(
  run: (f: Fixture) => Promise<void>,
  settings: { policy?: AccessPolicy; options?: Partial<IgdHttpServerOptions> } = {},
): Promise<void> {
  const clock = new ManualClock();
  const store = new MemoryMappingStore();
  const backend = new MemoryPortMappingBackend();
  const igd = new Igd({ rootUuid: ROOT_UUID }, { mappings: new MappingService({ policy: settings.policy }, { store, backend, now: clock.now }) });
  await igd.start();
  const records: IgdActionRecord[] = [];
  const server = await startIgdHttpServer(
    { host: '127.0.0.1', port: 0, rootUuid: ROOT_UUID, server: 'Linux/6 UPnP/1.0 OpenIGD/0.1', ...settings.options },
    { igd, onAction: (r) => records.push(r) },
  );
  try {
    await run({ server, igd, store, backend, clock, records });
  } finally {
    await server.close();
    igd.close();
  }
}

type Answer = { ok: true; out: Map<string, string>; raw: RawResponse } | { ok: false; code: number; description: string; raw: RawResponse };

/** Reads a SOAP answer: out arguments in order, or the UPnP fault; checks the envelope and headers. */
function readAnswer(raw: RawResponse, action: string, serviceType: string): Answer {
  assert.equal(raw.headers.get('content-type'), CONTENT_TYPE);
  assert.equal(raw.headers.get('ext'), '');
  assert.equal(raw.headers.get('server'), 'Linux/6 UPnP/1.0 OpenIGD/0.1');
  assert.equal(Number(raw.headers.get('content-length')), Buffer.byteLength(raw.body));
  const envelope = parseXml(raw.body);
  const body = child(envelope, 'Body');
  if (raw.status === 500) {
    const fault = child(body, 'Fault');
    assert.equal(child(fault, 'faultcode').text, 's:Client');
    assert.equal(child(fault, 'faultstring').text, 'UPnPError');
    const error = path(fault, 'detail', 'UPnPError');
    assert.equal(error.uri, 'urn:schemas-upnp-org:control-1-0');
    return { ok: false, code: Number(child(error, 'errorCode').text), description: child(error, 'errorDescription').text, raw };
  }
  assert.equal(raw.status, 200);
  const response = child(body, `${action}Response`);
  assert.equal(response.uri, serviceType);
  return { ok: true, out: new Map(response.children.map((c: XmlNode) => [c.name, c.text])), raw };
}

async function soap(
  port: number,
  action: string,
  args: ReadonlyArray<readonly [string, string]> = [],
  service: keyof typeof IGD_SERVICES = 'wanIpConnection',
  prefix = 'SOAP-ENV',
): Promise<Answer> {
  const s = IGD_SERVICES[service];
  const raw = await rawHttp(port, soapRequest(s.controlPath, `"${s.serviceType}#${action}"`, soapBody(s.serviceType, action, args, prefix)));
  return readAnswer(raw, action, s.serviceType);
}

function addArgs(o: { remoteHost?: string; port?: string; protocol?: string; internalPort?: string; client?: string; enabled?: string; description?: string; lease?: string } = {}) {
  return [
    ['NewRemoteHost', o.remoteHost ?? ''], ['NewExternalPort', o.port ?? '4662'], ['NewProtocol', o.protocol ?? 'TCP'],
    ['NewInternalPort', o.internalPort ?? '4662'], ['NewInternalClient', o.client ?? '192.168.1.10'], ['NewEnabled', o.enabled ?? '1'],
    ['NewPortMappingDescription', o.description ?? 'eMule (TCP)'], ['NewLeaseDuration', o.lease ?? '0'],
  ] as const;
}

const keyArgs = (port = '4662', protocol = 'TCP', remoteHost = '') =>
  [['NewRemoteHost', remoteHost], ['NewExternalPort', port], ['NewProtocol', protocol]] as const;

function outOf(a: Answer): Map<string, string> {
  if (!a.ok) assert.fail(`expected success, got fault ${a.code} ${a.description}`);
  return a.out;
}

function codeOf(a: Answer): number {
  return a.ok ? 200 : a.code;
}

/** Walks GetGenericPortMappingEntry from 0 until 713, as Windows does after every change. */
async function relist(port: number): Promise<Array<Record<string, string>>> {
  const entries: Array<Record<string, string>> = [];
  for (let i = 0; i < 100; i++) {
    const a = await soap(port, 'GetGenericPortMappingEntry', [['NewPortMappingIndex', String(i)]]);
    if (!a.ok) {
      assert.deepEqual([a.code, a.description], [713, 'SpecifiedArrayIndexInvalid']);
      return entries;
    }
    assert.deepEqual([...a.out.keys()], ['NewRemoteHost', 'NewExternalPort', 'NewProtocol', 'NewInternalPort',
      'NewInternalClient', 'NewEnabled', 'NewPortMappingDescription', 'NewLeaseDuration']);
    entries.push(Object.fromEntries(a.out));
  }
  return assert.fail('the list did not end with 713');
}

function entry(o: { client?: string; enabled?: string; description?: string } = {}): Record<string, string> {
  return {
    NewRemoteHost: '', NewExternalPort: '4662', NewProtocol: 'TCP', NewInternalPort: '4662',
    NewInternalClient: o.client ?? '192.168.1.10', NewEnabled: o.enabled ?? '1',
    NewPortMappingDescription: o.description ?? 'eMule (TCP)', NewLeaseDuration: '0',
  };
}

test('the Windows XP NAT traversal sequence, from the description fetch to the removal', () => withIgd(async ({ server, backend }) => {
  const port = server.port;
  // Description fetch, then the WANIPConnection service's control URL, relative to the description.
  const desc = await rawHttp(port, `GET /rootDesc.xml HTTP/1.1\r\nHOST: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
  assert.equal(desc.status, 200);
  assert.equal(desc.headers.get('content-type'), CONTENT_TYPE);
  assert.equal(desc.headers.get('ext'), '');
  const wanConn = path(parseXml(desc.body), 'device', 'deviceList', 'device', 'deviceList', 'device');
  const service = childrenNamed(child(wanConn, 'serviceList'), 'service')
    .find((s) => child(s, 'serviceType').text === 'urn:schemas-upnp-org:service:WANIPConnection:1');
  assert.ok(service);
  const controlUrl = new URL(child(service, 'controlURL').text, server.descriptionUrl);
  assert.equal(controlUrl.href, `${server.url}${WANIP.controlPath}`);
  const scpd = await rawHttp(port, `GET ${child(service, 'SCPDURL').text} HTTP/1.1\r\nHOST: x\r\nConnection: close\r\n\r\n`);
  assert.equal(scpd.status, 200);
  assert.equal(child(parseXml(scpd.body), 'actionList').children.length, WANIP.actions.length);

  assert.deepEqual([...outOf(await soap(port, 'GetConnectionTypeInfo'))], [
    ['NewConnectionType', 'IP_Routed'], ['NewPossibleConnectionTypes', 'IP_Routed']]);
  assert.deepEqual([...outOf(await soap(port, 'GetStatusInfo'))], [
    ['NewConnectionStatus', 'Connected'], ['NewLastConnectionError', 'ERROR_NONE'], ['NewUptime', '0']]);
  assert.deepEqual([...outOf(await soap(port, 'GetExternalIPAddress'))], [['NewExternalIPAddress', '203.0.113.1']]);
  assert.deepEqual(await relist(port), []);

  // Add with NewRemoteHost empty and lease 0; the answer is an empty AddPortMappingResponse.
  const added = await soap(port, 'AddPortMapping', addArgs());
  assert.equal(added.raw.body, '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    + 's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:AddPortMappingResponse '
    + 'xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"></u:AddPortMappingResponse></s:Body></s:Envelope>');
  assert.deepEqual(await relist(port), [entry()]);
  assert.equal(backend.rule({ remoteHost: '', externalPort: 4662, protocol: 'TCP' })?.enabled, true);

  // Disable by re-adding with NewEnabled 0: still listed, forwards nothing.
  outOf(await soap(port, 'AddPortMapping', addArgs({ enabled: '0' })));
  assert.deepEqual(await relist(port), [entry({ enabled: '0' })]);
  assert.equal(backend.rule({ remoteHost: '', externalPort: 4662, protocol: 'TCP' })?.enabled, false);

  // Enable again.
  outOf(await soap(port, 'AddPortMapping', addArgs({ enabled: '1' })));
  assert.deepEqual(await relist(port), [entry()]);
  assert.equal(backend.rule({ remoteHost: '', externalPort: 4662, protocol: 'TCP' })?.enabled, true);

  // Edit the description.
  outOf(await soap(port, 'AddPortMapping', addArgs({ description: 'eMule (TCP) 2' })));
  assert.deepEqual(await relist(port), [entry({ description: 'eMule (TCP) 2' })]);

  // Edit the internal client: delete + add.
  assert.equal(outOf(await soap(port, 'DeletePortMapping', keyArgs())).size, 0);
  assert.deepEqual(await relist(port), []);
  outOf(await soap(port, 'AddPortMapping', addArgs({ client: '192.168.1.20', description: 'eMule (TCP) 2' })));
  assert.deepEqual(await relist(port), [entry({ client: '192.168.1.20', description: 'eMule (TCP) 2' })]);
  assert.deepEqual([...outOf(await soap(port, 'GetSpecificPortMappingEntry', keyArgs()))], [
    ['NewInternalPort', '4662'], ['NewInternalClient', '192.168.1.20'], ['NewEnabled', '1'],
    ['NewPortMappingDescription', 'eMule (TCP) 2'], ['NewLeaseDuration', '0']]);
  assert.equal(backend.rule({ remoteHost: '', externalPort: 4662, protocol: 'TCP' })?.internalClient, '192.168.1.20');

  // Remove.
  outOf(await soap(port, 'DeletePortMapping', keyArgs()));
  assert.deepEqual(await relist(port), []);
  assert.equal(backend.allRules().length, 0);
}));

test('any envelope prefix and an unquoted SOAPACTION are accepted', () => withIgd(async ({ server }) => {
  for (const prefix of ['s', 'SOAP-ENV', 'soapenv']) {
    assert.equal(outOf(await soap(server.port, 'GetExternalIPAddress', [], 'wanIpConnection', prefix)).get('NewExternalIPAddress'), '203.0.113.1');
  }
  const raw = await rawHttp(server.port, soapRequest(WANIP.controlPath, `${WANIP.serviceType}#GetExternalIPAddress`,
    soapBody(WANIP.serviceType, 'GetExternalIPAddress', [])));
  assert.equal(outOf(readAnswer(raw, 'GetExternalIPAddress', WANIP.serviceType)).get('NewExternalIPAddress'), '203.0.113.1');
}));

test('the UPnP routes answer their paths in another letter case and with a trailing slash, as before', () => withIgd(async ({ server }) => {
  const body = soapBody(WANIP.serviceType, 'GetExternalIPAddress', []);
  for (const spelling of [WANIP.controlPath.toUpperCase(), `${WANIP.controlPath}/`]) {
    const raw = await rawHttp(server.port, soapRequest(spelling, `"${WANIP.serviceType}#GetExternalIPAddress"`, body));
    assert.equal(outOf(readAnswer(raw, 'GetExternalIPAddress', WANIP.serviceType)).get('NewExternalIPAddress'), '203.0.113.1', spelling);
  }
  const description = await rawHttp(server.port, 'GET /ROOTDESC.XML/ HTTP/1.1\r\nHOST: x\r\nConnection: close\r\n\r\n');
  assert.equal(description.status, 200);
  assert.match(description.body, /urn:schemas-upnp-org:device:InternetGatewayDevice:1/);
  assert.equal((await rawHttp(server.port, `GET ${WANIP.controlPath}/ HTTP/1.1\r\nHOST: x\r\nConnection: close\r\n\r\n`)).status, 405);
  assert.equal((await rawHttp(server.port, `POST ${WANIP.controlPath}// HTTP/1.1\r\nHOST: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)).status, 404);
}));

test('every service answers at its control URL', () => withIgd(async ({ server, backend }) => {
  backend.setCounters({ bytesSent: 2 ** 32 + 1, bytesReceived: 2, packetsSent: 3, packetsReceived: 4 });
  assert.equal(outOf(await soap(server.port, 'GetTotalBytesSent', [], 'wanCommonInterfaceConfig')).get('NewTotalBytesSent'), '1');
  assert.equal(outOf(await soap(server.port, 'GetTotalPacketsReceived', [], 'wanCommonInterfaceConfig')).get('NewTotalPacketsReceived'), '4');
  assert.equal(outOf(await soap(server.port, 'GetCommonLinkProperties', [], 'wanCommonInterfaceConfig')).get('NewPhysicalLinkStatus'), 'Up');
  assert.match(outOf(await soap(server.port, 'GetDefaultConnectionService', [], 'layer3Forwarding')).get('NewDefaultConnectionService') ?? '',
    /^uuid:[0-9a-f-]{36},urn:upnp-org:serviceId:WANIPConn1$/);
}));

test('a fault, byte for byte, with its headers', () => withIgd(async ({ server }) => {
  const raw = await rawHttp(server.port, soapRequest(WANIP.controlPath, `"${WANIP.serviceType}#DeletePortMapping"`,
    soapBody(WANIP.serviceType, 'DeletePortMapping', keyArgs())));
  assert.match(raw.head, /^HTTP\/1\.1 500 Internal Server Error\r\n/);
  assert.match(raw.head, /\r\nContent-Type: text\/xml; charset="utf-8"\r\n/);
  assert.match(raw.head, /\r\nEXT: \r\n/);
  assert.equal(raw.body, '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    + 's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode>'
    + '<faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0">'
    + '<errorCode>714</errorCode><errorDescription>NoSuchEntryInArray</errorDescription></UPnPError></detail>'
    + '</s:Fault></s:Body></s:Envelope>');
}));

test('401: unknown action, SOAPACTION mismatch, missing SOAPACTION, another service\'s action', () => withIgd(async ({ server, records }) => {
  const port = server.port;
  assert.equal(codeOf(await soap(port, 'GetListOfPortMappings')), 401);
  const body = soapBody(WANIP.serviceType, 'AddPortMapping', addArgs());
  for (const header of [`"${WANIP.serviceType}#DeletePortMapping"`, undefined, '"urn:schemas-upnp-org:service:WANIPConnection:1"']) {
    const raw = await rawHttp(port, soapRequest(WANIP.controlPath, header, body));
    const a = readAnswer(raw, 'AddPortMapping', WANIP.serviceType);
    assert.deepEqual(a.ok ? 200 : [a.code, a.description], [401, 'Invalid Action'], String(header));
  }
  const l3f = IGD_SERVICES.layer3Forwarding.serviceType;
  const raw = await rawHttp(port, soapRequest(WANIP.controlPath, `"${l3f}#GetDefaultConnectionService"`, soapBody(l3f, 'GetDefaultConnectionService', [])));
  assert.equal(codeOf(readAnswer(raw, 'GetDefaultConnectionService', l3f)), 401);
  assert.equal(records.every((r) => !r.ok && r.code === 401), true);
}));

test('402: each kind of bad argument', () => withIgd(async ({ server, store }) => {
  const port = server.port;
  const cases: Array<[string, ReadonlyArray<readonly [string, string]>]> = [
    ['missing argument', addArgs().filter(([n]) => n !== 'NewLeaseDuration')],
    ['external port > 65535', addArgs({ port: '70000' })],
    ['internal port 0', addArgs({ internalPort: '0' })],
    ['internal port not a number', addArgs({ internalPort: 'http' })],
    ['protocol XYZ', addArgs({ protocol: 'XYZ' })],
    ['internal client not a dotted quad', addArgs({ client: 'pc.lan' })],
    ['remote host not a dotted quad', addArgs({ remoteHost: 'peer.example' })],
    ['enabled not a boolean', addArgs({ enabled: 'maybe' })],
    ['lease negative', addArgs({ lease: '-1' })],
    ['lease > ui4', addArgs({ lease: '4294967296' })],
    ['undeclared argument', [...addArgs(), ['NewFoo', '1']]],
    ['duplicate argument', [...addArgs(), ['NewExternalPort', '4663']]],
  ];
  for (const [name, args] of cases) {
    const a = await soap(port, 'AddPortMapping', args);
    assert.deepEqual(a.ok ? 200 : [a.code, a.description], [402, 'Invalid Args'], name);
  }
  assert.equal(codeOf(await soap(port, 'GetGenericPortMappingEntry', [['NewPortMappingIndex', 'first']])), 402);
  assert.equal(codeOf(await soap(port, 'GetSpecificPortMappingEntry', keyArgs('4662', 'ICMP'))), 402);
  assert.equal(store.puts, 0);
}));

test('501: the store cannot write', () => withIgd(async ({ server, store, igd }) => {
  store.failPuts = 1;
  const a = await soap(server.port, 'AddPortMapping', addArgs());
  assert.deepEqual(a.ok ? 200 : [a.code, a.description], [501, 'Action Failed']);
  assert.equal(igd.mappingCount(), 0);
  assert.equal(codeOf(await soap(server.port, 'AddPortMapping', addArgs())), 200);
}));

test('606: policy refuses (clients map only themselves); ForceTermination', () => withIgd(async ({ server }) => {
  const a = await soap(server.port, 'AddPortMapping', addArgs({ client: '192.168.1.10' }));
  assert.deepEqual(a.ok ? 200 : [a.code, a.description], [606, 'Action not authorized']);
  assert.equal(codeOf(await soap(server.port, 'AddPortMapping', addArgs({ client: '127.0.0.1' }))), 200);
  assert.equal(codeOf(await soap(server.port, 'ForceTermination')), 606);
}, { policy: { clientsMapOnlyThemselves: true } }));

test('725: the policy demands static leases', () => withIgd(async ({ server }) => {
  const a = await soap(server.port, 'AddPortMapping', addArgs({ lease: '3600' }));
  assert.deepEqual(a.ok ? 200 : [a.code, a.description], [725, 'OnlyPermanentLeasesSupported']);
  assert.equal(codeOf(await soap(server.port, 'AddPortMapping', addArgs({ lease: '0' }))), 200);
}, { policy: { staticLeasesOnly: true } }));

test('728: the table is full', () => withIgd(async ({ server }) => {
  assert.equal(codeOf(await soap(server.port, 'AddPortMapping', addArgs())), 200);
  const a = await soap(server.port, 'AddPortMapping', addArgs({ port: '4663' }));
  assert.deepEqual(a.ok ? 200 : [a.code, a.description], [728, 'NoPortMapsAvailable']);
}, { policy: { maxMappings: 1 } }));

test('715, 724, 726: remote-host and same-port demands of a policy', async () => {
  await withIgd(async ({ server }) => {
    assert.equal(codeOf(await soap(server.port, 'AddPortMapping', addArgs())), 715);
    assert.equal(codeOf(await soap(server.port, 'AddPortMapping', addArgs({ remoteHost: '198.51.100.7' }))), 200);
  }, { policy: { remoteHost: 'specific-only' } });
  await withIgd(async ({ server }) => {
    assert.equal(codeOf(await soap(server.port, 'AddPortMapping', addArgs({ remoteHost: '198.51.100.7' }))), 726);
    assert.equal(codeOf(await soap(server.port, 'AddPortMapping', addArgs({ internalPort: '80' }))), 724);
  }, { policy: { remoteHost: 'wildcard-only', samePortsOnly: true } });
});

test('713, 714 (specific and delete), 716, 718', () => withIgd(async ({ server }) => {
  const port = server.port;
  assert.equal(codeOf(await soap(port, 'GetGenericPortMappingEntry', [['NewPortMappingIndex', '0']])), 713);
  assert.equal(codeOf(await soap(port, 'GetSpecificPortMappingEntry', keyArgs())), 714);
  assert.equal(codeOf(await soap(port, 'DeletePortMapping', keyArgs())), 714);
  const wildcard = await soap(port, 'AddPortMapping', addArgs({ port: '0' }));
  assert.deepEqual(wildcard.ok ? 200 : [wildcard.code, wildcard.description], [716, 'WildCardNotPermittedInExtPort']);
  assert.equal(codeOf(await soap(port, 'AddPortMapping', addArgs())), 200);
  const conflict = await soap(port, 'AddPortMapping', addArgs({ client: '192.168.1.99' }));
  assert.deepEqual(conflict.ok ? 200 : [conflict.code, conflict.description], [718, 'ConflictInMappingEntry']);
  assert.equal(codeOf(await soap(port, 'GetGenericPortMappingEntry', [['NewPortMappingIndex', '1']])), 713);
  // Remote host is part of the key: the same port for one remote host is another entry, and 714 for a third.
  assert.equal(codeOf(await soap(port, 'AddPortMapping', addArgs({ remoteHost: '198.51.100.7', client: '192.168.1.99' }))), 200);
  assert.equal(codeOf(await soap(port, 'GetSpecificPortMappingEntry', keyArgs('4662', 'TCP', '198.51.100.8'))), 714);
  assert.equal(codeOf(await soap(port, 'DeletePortMapping', keyArgs('4662', 'TCP', '198.51.100.7'))), 200);
}));

test('720, 721: SetDefaultConnectionService naming another device or service', () => withIgd(async ({ server }) => {
  const set = (value: string) => soap(server.port, 'SetDefaultConnectionService', [['NewDefaultConnectionService', value]], 'layer3Forwarding');
  const ours = outOf(await soap(server.port, 'GetDefaultConnectionService', [], 'layer3Forwarding')).get('NewDefaultConnectionService') ?? '';
  assert.equal(codeOf(await set(ours)), 200);
  assert.equal(codeOf(await set('uuid:11111111-2222-4333-8444-555555555555,urn:upnp-org:serviceId:WANIPConn1')), 720);
  assert.equal(codeOf(await set(ours.replace('WANIPConn1', 'WANPPPConn1'))), 721);
}));

test('leases over HTTP: the listed lease counts down and the mapping expires', () => withIgd(async ({ server, clock, igd }) => {
  outOf(await soap(server.port, 'AddPortMapping', addArgs({ lease: '120' })));
  clock.advance(20_000);
  assert.equal(outOf(await soap(server.port, 'GetSpecificPortMappingEntry', keyArgs())).get('NewLeaseDuration'), '100');
  clock.advance(100_000);
  assert.equal(codeOf(await soap(server.port, 'GetSpecificPortMappingEntry', keyArgs())), 714);
  assert.equal(igd.mappingCount(), 0);
}));

/** Sends `head`, then `body` in pieces with pauses (a client still sending), and reads until close. */
function slowUpload(port: number, head: string, body: Buffer, pieces: number): Promise<{ received: string; error: string | undefined }> {
  return new Promise((resolve) => {
    // Half-open allowed: like a client busy sending, it goes on after the server's FIN.
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let received = '';
    let error: string | undefined;
    socket.on('data', (c: Buffer) => { received += c.toString('latin1'); });
    socket.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
    socket.on('close', () => resolve({ received, error }));
    socket.write(head);
    const size = Math.ceil(body.length / pieces);
    let sent = 0;
    const next = (): void => {
      if (socket.destroyed) return;
      if (sent >= body.length) {
        socket.end();
        return;
      }
      socket.write(body.subarray(sent, sent + size));
      sent += size;
      setTimeout(next, 5);
    };
    next();
  });
}

test('hardening: a refused body is read to its end before the 413, so a client still sending gets the answer, not a reset', () => withIgd(async ({ server }) => {
  const body = Buffer.alloc(300_000, '<');
  const head = `POST ${WANIP.controlPath} HTTP/1.1\r\nHOST: x\r\nSOAPACTION: "${WANIP.serviceType}#AddPortMapping"\r\n`
    + `CONTENT-LENGTH: ${body.length}\r\nConnection: close\r\n\r\n`;
  const { received, error } = await slowUpload(server.port, head, body, 30);
  assert.equal(error, undefined);
  assert.match(received, /^HTTP\/1\.1 413 /);
}));

test('hardening: 413 on a big body, 400 on a DOCTYPE, 405 on wrong methods, 404 elsewhere', () => withIgd(async ({ server }) => {
  const port = server.port;
  const big = soapBody(WANIP.serviceType, 'AddPortMapping', addArgs({ description: 'x'.repeat(20_000) }));
  assert.equal((await rawHttp(port, soapRequest(WANIP.controlPath, `"${WANIP.serviceType}#AddPortMapping"`, big))).status, 413);
  const chunkedHead = `POST ${WANIP.controlPath} HTTP/1.1\r\nHOST: x\r\nSOAPACTION: "${WANIP.serviceType}#AddPortMapping"\r\n`
    + 'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n';
  const chunk = 'y'.repeat(8000);
  const chunked = `${chunkedHead}${[1, 2, 3].map(() => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('')}0\r\n\r\n`;
  assert.equal((await rawHttp(port, chunked)).status, 413);

  const doctype = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
    + `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetExternalIPAddress xmlns:u="${WANIP.serviceType}">&lol2;`
    + '</u:GetExternalIPAddress></s:Body></s:Envelope>';
  assert.equal((await rawHttp(port, soapRequest(WANIP.controlPath, `"${WANIP.serviceType}#GetExternalIPAddress"`, doctype))).status, 400);

  assert.equal((await rawHttp(port, `GET ${WANIP.controlPath} HTTP/1.1\r\nHOST: x\r\nConnection: close\r\n\r\n`)).status, 405);
  assert.equal((await rawHttp(port, `POST ${WANIP.eventSubPath} HTTP/1.1\r\nHOST: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)).status, 405);
  assert.equal((await rawHttp(port, 'GET /etc/passwd HTTP/1.1\r\nHOST: x\r\nConnection: close\r\n\r\n')).status, 404);
  const head = await rawHttp(port, 'HEAD /rootDesc.xml HTTP/1.1\r\nHOST: x\r\nConnection: close\r\n\r\n');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
}));

test('corrupt SOAP bodies (random bytes, truncated XML) get 400 or a fault, and the server keeps answering', () => withIgd(async ({ server }) => {
  const port = server.port;
  const good = soapBody(WANIP.serviceType, 'AddPortMapping', addArgs());
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const bodies: Buffer[] = [];
  for (let i = 0; i < 20; i++) bodies.push(Buffer.from(Array.from({ length: 1 + (random() % 400) }, () => random() & 0xff)));
  for (let i = 0; i < 20; i++) bodies.push(Buffer.from(good.slice(0, random() % good.length)));
  for (let i = 0; i < 10; i++) {
    const mutated = Buffer.from(good);
    mutated[random() % mutated.length] = random() & 0xff;
    bodies.push(mutated);
  }
  for (const body of bodies) {
    const raw = await rawHttp(port, soapRequest(WANIP.controlPath, `"${WANIP.serviceType}#AddPortMapping"`, body));
    assert.ok([200, 400, 500].includes(raw.status), `status ${raw.status}`);
    if (raw.status === 500) assert.ok([401, 402, 718].includes(codeOf(readAnswer(raw, 'AddPortMapping', WANIP.serviceType))));
  }
  const garbageHead = await rawHttp(port, Buffer.from('\x00\x01\x02 NOT HTTP\r\n\r\n', 'latin1'));
  assert.equal(garbageHead.status, 400);
  assert.equal(outOf(await soap(port, 'GetExternalIPAddress')).get('NewExternalIPAddress'), '203.0.113.1');
}));

test('slow clients are cut off by the headers timeout', () => withIgd(async ({ server }) => {
  const started = Date.now();
  const closed = await new Promise<string>((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the server kept a slow client for 5 s'));
    }, 5000);
    let received = '';
    socket.on('data', (c) => {
      received += c.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.write('POST /ctl/IPConn HTTP/1.1\r\nHOST: x\r\n');
  });
  assert.ok(Date.now() - started < 5000);
  assert.match(closed, /^(HTTP\/1\.1 408|$)/);
}, { options: { headersTimeoutMs: 300, requestTimeoutMs: 600 } }));

// ---- GENA over HTTP ------------------------------------------------------------------------

interface Notify {
  readonly headers: Record<string, string | string[] | undefined>;
  readonly method: string;
  readonly body: string;
}

async function withCallbackServer(run: (port: number, notifies: Notify[]) => Promise<void>): Promise<void> {
  const notifies: Notify[] = [];
  const callback = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      notifies.push({ headers: req.headers, method: req.method ?? '', body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'Content-Length': 0 });
      res.end();
    });
  });
  await new Promise<void>((resolve) => callback.listen(0, '127.0.0.1', resolve));
  try {
    await run((callback.address() as AddressInfo).port, notifies);
  } finally {
    callback.closeAllConnections();
    await new Promise<void>((resolve) => callback.close(() => resolve()));
  }
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function properties(body: string): Array<[string, string]> {
  const set = parseXml(body);
  assert.equal(set.name, 'propertyset');
  assert.equal(set.uri, 'urn:schemas-upnp-org:event-1-0');
  return childrenNamed(set, 'property').map((p) => {
    assert.equal(p.children.length, 1);
    return [p.children[0].name, p.children[0].text];
  });
}

function subscribe(port: number, lines: string[], method = 'SUBSCRIBE'): Promise<RawResponse> {
  return rawHttp(port, `${method} ${WANIP.eventSubPath} HTTP/1.1\r\nHOST: 127.0.0.1:${port}\r\n${lines.map((l) => `${l}\r\n`).join('')}Connection: close\r\n\r\n`);
}

test('GENA: subscribe, initial event, NOTIFY on add and on an external address change, renew, unsubscribe', () => withIgd(async ({ server, backend }) => {
  await withCallbackServer(async (cbPort, notifies) => {
    const answer = await subscribe(server.port, [`CALLBACK: <http://127.0.0.1:${cbPort}/upnp/event>`, 'NT: upnp:event', 'TIMEOUT: Second-300']);
    assert.equal(answer.status, 200);
    const sid = answer.headers.get('sid') ?? '';
    assert.match(sid, /^uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(answer.headers.get('timeout'), 'Second-300');
    assert.equal(answer.headers.get('content-length'), '0');

    await waitFor(() => notifies.length >= 1, 'the initial event');
    const initial = notifies[0];
    assert.equal(initial.method, 'NOTIFY');
    assert.deepEqual([initial.headers.nt, initial.headers.nts, initial.headers.sid, initial.headers.seq],
      ['upnp:event', 'upnp:propchange', sid, '0']);
    assert.equal(initial.headers['content-type'], CONTENT_TYPE);
    assert.deepEqual(properties(initial.body), [
      ['PossibleConnectionTypes', 'IP_Routed'], ['ConnectionStatus', 'Connected'],
      ['ExternalIPAddress', '203.0.113.1'], ['PortMappingNumberOfEntries', '0']]);

    outOf(await soap(server.port, 'AddPortMapping', addArgs()));
    await waitFor(() => notifies.length >= 2, 'the event of the add');
    assert.equal(notifies[1].headers.seq, '1');
    assert.deepEqual(properties(notifies[1].body), [['PortMappingNumberOfEntries', '1']]);

    backend.setExternalAddress('198.51.100.20');
    await waitFor(() => notifies.length >= 3, 'the event of the address change');
    assert.equal(notifies[2].headers.seq, '2');
    assert.deepEqual(properties(notifies[2].body), [['ExternalIPAddress', '198.51.100.20']]);
    assert.equal(outOf(await soap(server.port, 'GetExternalIPAddress')).get('NewExternalIPAddress'), '198.51.100.20');
    assert.equal((await relist(server.port)).length, 1);

    const renew = await subscribe(server.port, [`SID: ${sid}`, 'TIMEOUT: Second-600']);
    assert.deepEqual([renew.status, renew.headers.get('sid'), renew.headers.get('timeout')], [200, sid, 'Second-600']);
    assert.equal((await subscribe(server.port, [`SID: ${sid}`, 'NT: upnp:event'])).status, 400);
    assert.equal((await subscribe(server.port, [`SID: ${sid}`, `CALLBACK: <http://127.0.0.1:${cbPort}/>`])).status, 400);
    assert.equal((await subscribe(server.port, ['SID: uuid:00000000-0000-4000-8000-000000000000'])).status, 412);

    assert.equal((await subscribe(server.port, [`SID: ${sid}`], 'UNSUBSCRIBE')).status, 200);
    assert.equal((await subscribe(server.port, [`SID: ${sid}`], 'UNSUBSCRIBE')).status, 412);
    outOf(await soap(server.port, 'DeletePortMapping', keyArgs()));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(notifies.length, 3);
  });
}));

test('GENA: CallStranger — a callback to any address but the subscriber\'s own is refused with 412', () => withIgd(async ({ server }) => {
  for (const callback of ['<http://127.0.0.2:80/>', '<http://198.51.100.1/cb>', '<http://localhost/cb>', '<https://127.0.0.1/cb>']) {
    const answer = await subscribe(server.port, [`CALLBACK: ${callback}`, 'NT: upnp:event']);
    assert.equal(answer.status, 412, callback);
  }
  assert.equal((await subscribe(server.port, ['CALLBACK: <http://127.0.0.1:9/>', 'NT: upnp:event'])).status, 200);
  assert.equal(server.gena.stats().subscriptions, 1);
}));

/** A loopback listener whose connections go to `server.accept`, as the gateway's userspace TCP endpoint hands them over. */
async function acceptFront(server: IgdHttpServer): Promise<{ port: number; close: () => Promise<void> }> {
  const front = createNetServer((socket) => server.accept(socket));
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  return { port: (front.address() as AddressInfo).port, close: () => new Promise((resolve) => front.close(() => resolve())) };
}

/** The head without its Date line (the one header that differs from one answer to the next). */
const withoutDate = (raw: RawResponse) => raw.head.split('\r\n').filter((l) => !l.startsWith('Date: ')).join('\r\n');

test('accept: a plain control request with Connection: close gets, through the quick path, the answer node:http gives', () => withIgd(async ({ server, records }) => {
  const front = await acceptFront(server);
  try {
    const cases = [
      soapRequest(WANIP.controlPath, `"${WANIP.serviceType}#GetExternalIPAddress"`, soapBody(WANIP.serviceType, 'GetExternalIPAddress', [])),
      soapRequest(WANIP.controlPath, `"${WANIP.serviceType}#GetGenericPortMappingEntry"`, soapBody(WANIP.serviceType, 'GetGenericPortMappingEntry', [['NewPortMappingIndex', '0']])),
      soapRequest(WANIP.controlPath, `"${WANIP.serviceType}#NoSuchAction"`, soapBody(WANIP.serviceType, 'NoSuchAction', [])),
      soapRequest(WANIP.controlPath, `"${WANIP.serviceType}#GetExternalIPAddress"`, 'not xml at all'),
    ];
    for (const request of cases) {
      const quick = await rawHttp(front.port, request);
      const direct = await rawHttp(server.port, request);
      assert.equal(withoutDate(quick), withoutDate(direct));
      assert.equal(quick.body, direct.body);
      assert.match(quick.headers.get('date') ?? '', /^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/);
      assert.equal(quick.headers.get('connection'), 'close');
    }
    // Each request reported once per way: 4 through accept, 4 through the listener.
    assert.equal(records.length, 8);
    assert.equal(server.quickAnswered(), 4, 'the four through accept took the quick path');
    assert.deepEqual(records.map((r) => r.code ?? (r.ok ? 0 : r.reason)), [0, 0, 713, 713, 401, 401, 'malformed', 'malformed']);
  } finally {
    await front.close();
  }
}));

test('accept: anything else (keep-alive, a description, a body sent later) is node:http\'s, with the bytes read so far given back', () => withIgd(async ({ server }) => {
  const front = await acceptFront(server);
  try {
    const keepAlive = await rawHttp(front.port, `GET /rootDesc.xml HTTP/1.1\r\nHost: x\r\n\r\nGET /rootDesc.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(keepAlive.status, 200);
    assert.equal(keepAlive.body.split('<?xml').length - 1, 2, 'both pipelined requests answered');
    const request = soapRequest(WANIP.controlPath, `"${WANIP.serviceType}#GetExternalIPAddress"`, soapBody(WANIP.serviceType, 'GetExternalIPAddress', []));
    const split = await new Promise<string>((resolve, reject) => {
      const socket = connect(front.port, '127.0.0.1');
      let text = '';
      socket.on('data', (d: Buffer) => { text += d.toString(); });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      socket.write(request.subarray(0, 100));
      setTimeout(() => socket.write(request.subarray(100)), 30);
    });
    assert.match(split, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(split, /<NewExternalIPAddress>/);
    assert.equal(server.quickAnswered(), 0, 'none of them took the quick path');
  } finally {
    await front.close();
  }
}));

test('accept: the request limit applies to the quick path too (503, Retry-After)', () => withIgd(async ({ server }) => {
  const front = await acceptFront(server);
  try {
    const request = soapRequest(WANIP.controlPath, `"${WANIP.serviceType}#GetExternalIPAddress"`, soapBody(WANIP.serviceType, 'GetExternalIPAddress', []));
    assert.equal((await rawHttp(front.port, request)).status, 200);
    const refused = await rawHttp(front.port, request);
    assert.deepEqual([refused.status, refused.headers.get('retry-after'), refused.headers.get('content-length')], [503, '1', '0']);
    assert.equal(server.rateLimited(), 1);
    assert.equal(server.quickAnswered(), 2, 'the answer and the refusal, both on the quick path');
  } finally {
    await front.close();
  }
}, { options: { requestRatePerSource: { perSecond: 0.001, burst: 1 } } }));
