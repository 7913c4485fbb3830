/**
 * The benchmark's SOAP client: exact request bytes and headers, answers and faults read
 * back, the control URL found in a description, the worker's job and report checked,
 * and the worker run for real against a small IGD on loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import {
  addPortMappingCall, deletePortMappingCall, escapeXml, findWanIpConnection, getGenericPortMappingEntryCall,
  leafValues, parseSoapResponse, postSoap, soapActionHeader, soapEnvelope, unescapeXml, WAN_IP_CONNECTION_1,
} from '@openigd/conformance';
import { loadClientArgs, parseWorkerOutput, runSoapWorker, type WorkerJob } from './soap-worker.js';
import { readJob } from './soap-load-worker.js';

const mapping = {
  remoteHost: '', externalPort: 20000, protocol: 'TCP', internalPort: 8080, internalClient: '192.168.50.2',
  enabled: true, description: 'a<b & "c"', leaseSeconds: 0,
} as const;

test('AddPortMapping envelope is byte-exact, arguments in spec order and escaped', () => {
  const call = addPortMappingCall(WAN_IP_CONNECTION_1, mapping);
  assert.equal(soapEnvelope(call),
    '<?xml version="1.0"?>\r\n'
    + '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">'
    + '<s:Body><u:AddPortMapping xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">'
    + '<NewRemoteHost></NewRemoteHost><NewExternalPort>20000</NewExternalPort><NewProtocol>TCP</NewProtocol>'
    + '<NewInternalPort>8080</NewInternalPort><NewInternalClient>192.168.50.2</NewInternalClient><NewEnabled>1</NewEnabled>'
    + '<NewPortMappingDescription>a&lt;b &amp; &quot;c&quot;</NewPortMappingDescription><NewLeaseDuration>0</NewLeaseDuration>'
    + '</u:AddPortMapping></s:Body></s:Envelope>\r\n');
  assert.equal(soapActionHeader(call), '"urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping"');
  assert.deepEqual(deletePortMappingCall(WAN_IP_CONNECTION_1, '', 20000, 'UDP').args,
    [['NewRemoteHost', ''], ['NewExternalPort', '20000'], ['NewProtocol', 'UDP']]);
  assert.deepEqual(getGenericPortMappingEntryCall(WAN_IP_CONNECTION_1, 7).args, [['NewPortMappingIndex', '7']]);
});

test('escapeXml and unescapeXml are inverse on any string', () => {
  fc.assert(fc.property(fc.fullUnicodeString(), (s) => unescapeXml(escapeXml(s)) === s));
  assert.equal(unescapeXml('&#65;&#x42;&bogus;&#x110000;'), 'AB&bogus;&#x110000;');
});

// miniupnpd 2.3.1's answers, as captured from it.
const MINIUPNPD_ENTRY = '<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
  + '<u:GetGenericPortMappingEntryResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"><NewRemoteHost></NewRemoteHost>'
  + '<NewExternalPort>18080</NewExternalPort><NewProtocol>TCP</NewProtocol><NewInternalPort>8080</NewInternalPort>'
  + '<NewInternalClient>192.168.50.2</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>x &amp; y</NewPortMappingDescription>'
  + '<NewLeaseDuration>0</NewLeaseDuration></u:GetGenericPortMappingEntryResponse></s:Body></s:Envelope>\r\n';
const MINIUPNPD_713 = '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault>'
  + '<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0">'
  + '<errorCode>713</errorCode><errorDescription>SpecifiedArrayIndexInvalid</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>';

test('a success answer gives its out-arguments by name, unescaped', () => {
  const o = parseSoapResponse('GetGenericPortMappingEntry', 200, MINIUPNPD_ENTRY);
  assert.ok(o.ok);
  assert.equal(o.values.NewExternalPort, '18080');
  assert.equal(o.values.NewRemoteHost, '');
  assert.equal(o.values.NewPortMappingDescription, 'x & y');
  assert.equal(Object.keys(o.values).length, 8);
});

test('a UPnP fault gives its code and description; other failures a reason', () => {
  assert.deepEqual(parseSoapResponse('GetGenericPortMappingEntry', 500, MINIUPNPD_713),
    { ok: false, kind: 'fault', status: 500, errorCode: 713, errorDescription: 'SpecifiedArrayIndexInvalid' });
  const plain = parseSoapResponse('AddPortMapping', 500, 'Internal Server Error');
  assert.equal(plain.ok, false);
  assert.equal(!plain.ok && plain.kind, 'http');
  const wrong = parseSoapResponse('AddPortMapping', 200, MINIUPNPD_ENTRY);
  assert.equal(!wrong.ok && wrong.kind, 'http', 'a 200 that answers another action is not a success');
});

test('leafValues takes any prefix and self-closing elements, and misses nothing it should find', () => {
  assert.deepEqual(leafValues('<m:R xmlns:m="x"><m:A>1</m:A><B/><C a="b">3</C></m:R>', 'R'), { A: '1', B: '', C: '3' });
  assert.equal(leafValues('<Other/>', 'R'), null);
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (junk) => {
    const v = leafValues(junk, 'R');
    return v === null || typeof v === 'object';
  }));
});

const DESCRIPTION = (controlUrl: string, base = '') => `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">${base}<device>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><controlURL>/ctl/L3F</controlURL></service></serviceList>
<deviceList><device><deviceList><device><serviceList>
<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<SCPDURL>/WANIPCn.xml</SCPDURL><controlURL>${controlUrl}</controlURL><eventSubURL>/evt/IPConn</eventSubURL></service>
</serviceList></device></deviceList></device></deviceList></device></root>`;

test('the WANIPConnection control URL is found and resolved against the description URL or URLBase', () => {
  const url = 'http://192.168.50.1:5555/rootDesc.xml';
  assert.deepEqual(findWanIpConnection(DESCRIPTION('/ctl/IPConn'), url),
    { ok: true, control: { serviceType: WAN_IP_CONNECTION_1, controlUrl: 'http://192.168.50.1:5555/ctl/IPConn' } });
  const based = findWanIpConnection(DESCRIPTION('ctl/IPConn', '<URLBase>http://10.0.0.1:80/igd/</URLBase>'), url);
  assert.equal(based.ok && based.control.controlUrl, 'http://10.0.0.1/igd/ctl/IPConn');
  const none = findWanIpConnection('<root><device></device></root>', url);
  assert.equal(none.ok, false);
});

test('the worker report is checked, and a malformed one is a reason', () => {
  const good = { ok: true, mode: 'list', entries: 3, totalMs: 1.5, end: '713' };
  assert.deepEqual(parseWorkerOutput(`noise\n${JSON.stringify(good)}\n`), good);
  assert.deepEqual(parseWorkerOutput('{"ok":false,"reason":"gone"}'), { ok: false, reason: 'gone' });
  for (const bad of ['', 'not json', '{"ok":true,"mode":"add","added":"3"}', '{"ok":true,"mode":"zap"}', '[1]']) {
    assert.equal(parseWorkerOutput(bad).ok, false, bad);
  }
});

test('a job the load client cannot run is refused with a reason before it starts', () => {
  const control = { serviceType: WAN_IP_CONNECTION_1, controlUrl: 'http://127.0.0.1:1/ctl' };
  const add = { mode: 'add', control, internalClient: '127.0.0.1', firstPort: 20000, count: 10, clients: 1, stepSize: 5, keepAlive: false, deadlineMs: 1000 } as const;
  assert.deepEqual(loadClientArgs(add), ['add', '127.0.0.1', '1', '/ctl', WAN_IP_CONNECTION_1, '127.0.0.1', '20000', '10', '1', '5', '0', '1000']);
  assert.equal(typeof loadClientArgs({ ...add, firstPort: 65530 }), 'string', 'ports past 65535');
  assert.equal(typeof loadClientArgs({ ...add, clients: 0 }), 'string');
  assert.equal(typeof loadClientArgs({ ...add, deadlineMs: 1e9 }), 'string', 'unbounded deadline');
  assert.equal(typeof loadClientArgs({ ...add, control: { ...control, controlUrl: 'http://igd.local/ctl' } }), 'string', 'a name, not an address');
  assert.deepEqual(loadClientArgs({ mode: 'list', control: { ...control, controlUrl: 'http://10.0.0.1/c?x=1' }, keepAlive: true, maxEntries: 5, deadlineMs: 100 }),
    ['list', '10.0.0.1', '80', '/c?x=1', WAN_IP_CONNECTION_1, '5', '1', '100']);
  assert.equal(readJob('{"mode":"describe"}').ok, false);
  assert.equal(readJob(JSON.stringify(add)).ok, false, 'the Node worker only describes');
  assert.equal(readJob('nope').ok, false);
  assert.equal(readJob(undefined).ok, false);
});

/** A small IGD on loopback: AddPortMapping, GetGenericPortMappingEntry, GetExternalIPAddress; records what it received. */
async function fakeIgd(): Promise<{ server: Server; url: string; requests: { headers: IncomingMessage['headers']; body: string }[]; mappings: number[] }> {
  const requests: { headers: IncomingMessage['headers']; body: string }[] = [];
  const mappings: number[] = [];
  const answer = (action: string, inner: string) => '<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
    + `<u:${action}Response xmlns:u="${WAN_IP_CONNECTION_1}">${inner}</u:${action}Response></s:Body></s:Envelope>`;
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => {
      requests.push({ headers: req.headers, body });
      if (req.method === 'GET') {
        res.writeHead(200, { 'Content-Type': 'text/xml' }).end(DESCRIPTION('/ctl/IPConn'));
        return;
      }
      const action = /#(\w+)"$/.exec(String(req.headers.soapaction ?? ''))?.[1];
      const arg = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)?.[1] ?? '';
      // As miniupnpd answers: Content-Length (the C load client reads no chunked body), then close.
      const send = (status: number, text: string) => res.writeHead(status, { 'Content-Length': Buffer.byteLength(text), Connection: 'close' }).end(text);
      if (action === 'AddPortMapping') {
        mappings.push(Number(arg('NewExternalPort')));
        send(200, answer(action, ''));
      } else if (action === 'GetExternalIPAddress') {
        send(200, answer(action, '<NewExternalIPAddress>203.0.113.2</NewExternalIPAddress>'));
      } else if (action === 'GetGenericPortMappingEntry' && Number(arg('NewPortMappingIndex')) < mappings.length) {
        send(200, answer(action, `<NewExternalPort>${mappings[Number(arg('NewPortMappingIndex'))]}</NewExternalPort>`));
      } else {
        send(500, MINIUPNPD_713);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, mappings };
}

test('postSoap sends the exact envelope with SOAPACTION, Content-Type and Content-Length', async () => {
  const igd = await fakeIgd();
  try {
    const call = addPortMappingCall(WAN_IP_CONNECTION_1, mapping);
    const o = await postSoap(`${igd.url}/ctl/IPConn`, call);
    assert.deepEqual(o, { ok: true, status: 200, values: {} });
    const [req] = igd.requests;
    assert.equal(req?.body, soapEnvelope(call));
    assert.equal(req?.headers.soapaction, '"urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping"');
    assert.equal(req?.headers['content-type'], 'text/xml; charset="utf-8"');
    assert.equal(req?.headers['content-length'], String(Buffer.byteLength(soapEnvelope(call))));
    const fault = await postSoap(`${igd.url}/ctl/IPConn`, getGenericPortMappingEntryCall(WAN_IP_CONNECTION_1, 5));
    assert.equal(!fault.ok && fault.kind === 'fault' && fault.errorCode, 713);
  } finally {
    igd.server.close();
  }
});

test('postSoap turns a refused connection, a silent server and a bad URL into reasons', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const refused = await postSoap(`http://127.0.0.1:${port}/ctl`, getGenericPortMappingEntryCall(WAN_IP_CONNECTION_1, 0));
  assert.equal(!refused.ok && refused.kind, 'network');

  const silent = createServer(() => { /* never answers */ });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/ctl`;
    const timedOut = await postSoap(url, getGenericPortMappingEntryCall(WAN_IP_CONNECTION_1, 0), { timeoutMs: 100 });
    assert.equal(!timedOut.ok && timedOut.kind, 'timeout');
  } finally {
    silent.closeAllConnections();
    silent.close();
  }
  const bad = await postSoap('not a url', getGenericPortMappingEntryCall(WAN_IP_CONNECTION_1, 0));
  assert.equal(!bad.ok && bad.kind, 'network');
});

const runWorker = (job: WorkerJob) => runSoapWorker(null, job, 20_000);

test('the workers describe, add with 4 clients timing each step (kept connections), and list until 713 (a connection each)', async () => {
  const igd = await fakeIgd();
  try {
    const described = await runWorker({ mode: 'describe', descriptionUrl: `${igd.url}/rootDesc.xml` });
    assert.ok(described.ok && described.mode === 'describe', JSON.stringify(described));
    assert.equal(described.control.controlUrl, `${igd.url}/ctl/IPConn`);
    assert.equal(described.externalAddress, '203.0.113.2');

    const added = await runWorker({
      mode: 'add', control: described.control, internalClient: '127.0.0.1', firstPort: 20000, count: 50,
      clients: 4, stepSize: 20, keepAlive: true, deadlineMs: 10_000,
    });
    assert.ok(added.ok && added.mode === 'add', JSON.stringify(added));
    assert.equal(added.added, 50);
    assert.equal(added.failed, 0);
    assert.deepEqual(added.steps.map((s) => [s.from, s.to]), [[0, 20], [20, 40], [40, 50]]);
    assert.ok(added.steps.every((s) => s.ms > 0 && s.perSecond > 0));
    assert.deepEqual([...igd.mappings].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => 20000 + i), 'each port once');

    const listed = await runWorker({ mode: 'list', control: described.control, maxEntries: 1000, keepAlive: false, deadlineMs: 10_000 });
    assert.deepEqual(listed.ok && listed.mode === 'list' && [listed.entries, listed.end], [50, '713']);
  } finally {
    igd.server.close();
  }
});

test('the load client gives up after repeated failures instead of hammering a dead IGD', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const r = await runWorker({
    mode: 'add', control: { serviceType: WAN_IP_CONNECTION_1, controlUrl: `http://127.0.0.1:${port}/ctl` }, internalClient: '127.0.0.1',
    firstPort: 20000, count: 1000, clients: 1, stepSize: 100, keepAlive: false, deadlineMs: 10_000,
  });
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : '', /20 adds failed in a row/);
});
