/**
 * IGD:2 and QueryStateVariable over real HTTP on 127.0.0.1 (port 0), with exact request bytes:
 *   - a Microsoft user agent gets the IGD:1 description and SCPD from an IGD:2 gateway,
 *     and its WANIPConnection:1 requests are answered in that namespace;
 *   - AddAnyPortMapping and GetListOfPortMappings of 3,000 entries in one answer;
 *   - QueryStateVariable as an old control point (SBBI's upnplib) sends it: values, 404, 402.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startIgdHttpServer } from './http-server.js';
import type { IgdHttpServer } from './http-server.js';
import { Igd } from './igd.js';
import { MemoryPortMappingBackend, ManualClock, MemoryMappingStore, child, parseXml, path, rawHttp, soapBody, soapRequest } from './testing/index.js';
import { MappingService } from './mapping/mapping-service.js';
import type { IgdVersion } from './declaration.js';

const ROOT_UUID = '0b0a0c0d-1111-4222-8333-444455556666';
const V1 = 'urn:schemas-upnp-org:service:WANIPConnection:1';
const V2 = 'urn:schemas-upnp-org:service:WANIPConnection:2';
const ENVELOPE = '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
  + 's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>';

async function withIgd(version: IgdVersion, run: (server: IgdHttpServer, igd: Igd) => Promise<void>): Promise<void> {
  const backend = new MemoryPortMappingBackend();
  backend.setExternalAddress('203.0.113.7');
  const igd = new Igd({ rootUuid: ROOT_UUID, version },
    { mappings: new MappingService({ policy: { maxMappings: 5000 } }, { store: new MemoryMappingStore(), backend, now: new ManualClock().now }) });
  await igd.start();
  const server = await startIgdHttpServer({ host: '127.0.0.1', port: 0, rootUuid: ROOT_UUID, server: 'Linux/6 UPnP/1.1 OpenIGD/0.1', igdVersion: version }, { igd });
  try {
    await run(server, igd);
  } finally {
    await server.close();
    igd.close();
  }
}

function get(port: number, path: string, userAgent: string): Promise<string> {
  return rawHttp(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: ${userAgent}\r\nConnection: close\r\n\r\n`).then((r) => {
    assert.equal(r.status, 200);
    return r.body;
  });
}

async function soap(port: number, serviceType: string, action: string, args: ReadonlyArray<readonly [string, string]>) {
  return rawHttp(port, soapRequest('/ctl/IPConn', `"${serviceType}#${action}"`, soapBody(serviceType, action, args)), 10_000);
}

const addArgs = (port: number, client = '192.168.1.10') => [
  ['NewRemoteHost', ''], ['NewExternalPort', String(port)], ['NewProtocol', 'TCP'], ['NewInternalPort', '80'],
  ['NewInternalClient', client], ['NewEnabled', '1'], ['NewPortMappingDescription', 'web'], ['NewLeaseDuration', '0'],
] as const;

test('an IGD:2 gateway describes itself IGD:2, and IGD:1 to a Microsoft user agent', async () => {
  await withIgd(2, async (server) => {
    const miniupnpc = await get(server.port, '/rootDesc.xml', 'Debian/12 UPnP/1.1 MiniUPnPc/2.2.4');
    assert.match(miniupnpc, /<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2<\/deviceType>/);
    assert.match(miniupnpc, /<serviceType>urn:schemas-upnp-org:service:WANIPConnection:2<\/serviceType>/);
    const windows = await get(server.port, '/rootDesc.xml', 'Microsoft-Windows/10.0 UPnP/1.0');
    assert.match(windows, /<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1<\/deviceType>/);
    assert.doesNotMatch(windows, /:2</);
    const scpd1 = await get(server.port, '/WANIPCn.xml', 'Microsoft-Windows/10.0 UPnP/1.0');
    const scpd2 = await get(server.port, '/WANIPCn.xml', 'Debian/12 UPnP/1.1 MiniUPnPc/2.2.4');
    assert.doesNotMatch(scpd1, /AddAnyPortMapping|SystemUpdateID/);
    assert.match(scpd2, /<name>AddAnyPortMapping<\/name>/);
    assert.match(scpd2, /<name>SystemUpdateID<\/name>/);
  });
});

test('WANIPConnection:1 requests to an IGD:2 gateway are answered in the :1 namespace with IGD:1 codes', async () => {
  await withIgd(2, async (server, igd) => {
    const added = await soap(server.port, V1, 'AddPortMapping', addArgs(5000));
    assert.equal(added.status, 200);
    assert.equal(added.body, `${ENVELOPE}<u:AddPortMappingResponse xmlns:u="${V1}"></u:AddPortMappingResponse></s:Body></s:Envelope>`);
    assert.equal(igd.listMappings()[0]!.leaseSeconds, 0);
    const any = await soap(server.port, V1, 'AddAnyPortMapping', addArgs(5000));
    assert.equal(any.status, 500);
    assert.match(any.body, /<errorCode>401<\/errorCode>/);
  });
});

test('AddAnyPortMapping over HTTP: NewReservedPort, in the :2 namespace', async () => {
  await withIgd(2, async (server) => {
    await soap(server.port, V2, 'AddPortMapping', addArgs(6000, '192.168.1.11'));
    const r = await soap(server.port, V2, 'AddAnyPortMapping', addArgs(6000));
    assert.equal(r.status, 200);
    assert.equal(r.body, `${ENVELOPE}<u:AddAnyPortMappingResponse xmlns:u="${V2}"><NewReservedPort>6001</NewReservedPort>`
      + '</u:AddAnyPortMappingResponse></s:Body></s:Envelope>');
  });
});

test('GetListOfPortMappings answers 3,000 mappings in one response; 730 and 733 as faults', async () => {
  await withIgd(2, async (server, igd) => {
    for (let i = 0; i < 3000; i++) {
      const added = await igd.addPortMapping({ remoteHost: '', externalPort: 20_000 + i, protocol: 'UDP', internalPort: 9,
        internalClient: '192.168.1.10', enabled: true, description: `m${i} <&>`, leaseSeconds: 3600 }, '192.168.1.10');
      assert.ok(added.ok);
    }
    const range = (start: string, end: string) => [['NewStartPort', start], ['NewEndPort', end], ['NewProtocol', 'UDP'],
      ['NewManage', '1'], ['NewNumberOfPorts', '0']] as const;
    const r = await soap(server.port, V2, 'GetListOfPortMappings', range('0', '65535'));
    assert.equal(r.status, 200);
    assert.equal(Number(r.headers.get('content-length')), Buffer.byteLength(r.body));
    const listing = path(parseXml(r.body), 'Body', 'GetListOfPortMappingsResponse', 'NewPortListing').text;
    const list = parseXml(listing);
    assert.equal(list.children.length, 3000);
    assert.equal(child(list.children[2999]!, 'NewDescription').text, 'm2999 <&>');
    const none = await soap(server.port, V2, 'GetListOfPortMappings', range('1', '100'));
    assert.match(none.body, /<errorCode>730<\/errorCode><errorDescription>PortMappingNotFound<\/errorDescription>/);
    const bad = await soap(server.port, V2, 'GetListOfPortMappings', range('100', '1'));
    assert.match(bad.body, /<errorCode>733<\/errorCode><errorDescription>InconsistentParameters<\/errorDescription>/);
  });
});

/** QueryStateVariable as SBBI's upnplib (ServiceStateVariable.service) writes it, byte for byte. */
function queryRequest(controlPath: string, varName: string): Buffer {
  const body = '<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"'
    + ' s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
    + '<u:QueryStateVariable xmlns:u="urn:schemas-upnp-org:control-1-0">'
    + `<u:varName>${varName}</u:varName></u:QueryStateVariable></s:Body></s:Envelope>`;
  return Buffer.from(`POST ${controlPath} HTTP/1.1\r\nHOST: 127.0.0.1:5000\r\n`
    + 'SOAPACTION: "urn:schemas-upnp-org:control-1-0#QueryStateVariable"\r\n'
    + `CONTENT-TYPE: text/xml; charset="utf-8"\r\nCONTENT-LENGTH: ${body.length}\r\n`
    + 'User-Agent: Java/1.6.0_45\r\nAccept: text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2\r\nConnection: close\r\n\r\n'
    + body, 'latin1');
}

const queryAnswer = (value: string) => `${ENVELOPE}<u:QueryStateVariableResponse xmlns:u="urn:schemas-upnp-org:control-1-0">`
  + `<return>${value}</return></u:QueryStateVariableResponse></s:Body></s:Envelope>`;

test('QueryStateVariable: evented and reported variables, byte for byte; 404 Invalid Var for the rest', async () => {
  await withIgd(1, async (server, igd) => {
    await igd.addPortMapping({ remoteHost: '', externalPort: 7000, protocol: 'TCP', internalPort: 7000, internalClient: '192.168.1.10',
      enabled: true, description: 'x', leaseSeconds: 0 }, '192.168.1.10');
    const ask = async (controlPath: string, name: string) => rawHttp(server.port, queryRequest(controlPath, name));
    for (const [name, value] of [
      ['ConnectionStatus', 'Connected'], ['ExternalIPAddress', '203.0.113.7'], ['PortMappingNumberOfEntries', '1'],
      ['ConnectionType', 'IP_Routed'], ['NATEnabled', '1'], ['RSIPAvailable', '0'], ['LastConnectionError', 'ERROR_NONE'],
      ['PossibleConnectionTypes', 'IP_Routed'],
    ] as const) {
      const r = await ask('/ctl/IPConn', name);
      assert.equal(r.status, 200, name);
      assert.equal(r.headers.get('content-type'), 'text/xml; charset="utf-8"');
      assert.equal(r.body, queryAnswer(value), name);
    }
    assert.equal((await ask('/ctl/CmnIfCfg', 'WANAccessType')).body, queryAnswer('Ethernet'));
    assert.equal((await ask('/ctl/CmnIfCfg', 'PhysicalLinkStatus')).body, queryAnswer('Up'));
    assert.equal((await ask('/ctl/CmnIfCfg', 'TotalBytesSent')).body, queryAnswer('0'));
    const fault404 = `${ENVELOPE}<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>`
      + '<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>404</errorCode><errorDescription>Invalid Var</errorDescription>'
      + '</UPnPError></detail></s:Fault></s:Body></s:Envelope>';
    for (const [controlPath, name] of [['/ctl/IPConn', 'NoSuchVariable'], ['/ctl/IPConn', 'RemoteHost'], ['/ctl/IPConn', 'connectionstatus'],
      ['/ctl/IPConn', 'SystemUpdateID'], ['/ctl/IPConn', 'PhysicalLinkStatus']]) {
      const r = await ask(controlPath!, name!);
      assert.equal(r.status, 500, name);
      assert.equal(r.body, fault404, name);
    }
    const noName = await rawHttp(server.port, soapRequest('/ctl/IPConn', '"urn:schemas-upnp-org:control-1-0#QueryStateVariable"',
      soapBody('urn:schemas-upnp-org:control-1-0', 'QueryStateVariable', [])));
    assert.match(noName.body, /<errorCode>402<\/errorCode>/);
  });
  await withIgd(2, async (server) => {
    const r = await rawHttp(server.port, queryRequest('/ctl/IPConn', 'SystemUpdateID'));
    assert.equal(r.body, queryAnswer('0'));
  });
});
