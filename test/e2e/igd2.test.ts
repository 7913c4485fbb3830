/**
 * Issue 10, acceptance 4 (IGD:2, B1), in the lab with `igd: { version: 2 }`, real kernels
 * and Debian's `upnpc` (miniupnpc 2.2.4) in a LAN host:
 *  - `upnpc -n` (AddAnyPortMapping) gets the nearest free port when the asked one is held
 *    by another host, and the reserved port forwards from the internet namespace;
 *  - `upnpc -L` lists through GetListOfPortMappings, also with 3,000 more mappings (added
 *    over SOAP by port-probe.py add-burst), and a direct GetListOfPortMappings of all of
 *    them is answered in one response while the daemon keeps running;
 *  - `upnpc -N` deletes a range;
 *  - a Microsoft User-Agent gets the IGD:1 description and SCPD, and its WANIPConnection:1
 *    requests are answered as IGD:1; GENA carries SystemUpdateID; QueryStateVariable answers
 *    an old client.
 *
 * upnpc needs `-i`: the external address is in a documentation range, which it calls
 * "not connected".
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { labUp, labDown, type LabRecord } from '@openigd/gateway';
import { uniquePrefix, sh, must, background, Cleanup, isRoot, until } from '../lib/ns.js';
import { admin } from '../lib/admin.js';
import { soapActionHeader, soapEnvelope } from '@openigd/conformance';
import { PORT_PROBE, parseUpnpcList, probeMapping } from '../lib/lab-probe.js';

const DIR = '/run/openigd-lab';
const BASE = 'http://192.168.1.1:5000';
const CONTROL = `${BASE}/ctl/IPConn`;
const V1 = 'urn:schemas-upnp-org:service:WANIPConnection:1';
const V2 = 'urn:schemas-upnp-org:service:WANIPConnection:2';
const WINDOWS = 'Microsoft-Windows/10.0 UPnP/1.0';
const BURST = 3000;
const skip = !isRoot() ? 'needs root for namespaces and TAP devices' : false;

describe('IGD:2 with upnpc -n / -L / -N, 3,000 listed, and IGD:1 for Microsoft clients (B1)', { skip }, () => {
  const cleanup = new Cleanup();
  let lab: LabRecord;
  let h1Addr = '';
  let h2Addr = '';
  after(() => cleanup.run());
  before(async () => {
    const prefix = uniquePrefix('i2');
    cleanup.add(() => labDown(prefix, DIR));
    // The burst of 3000 adds below comes from one host: igd.requestRate (a flood guard,
    // faults-flood.test.ts) is lifted so that it measures the table, not the limit.
    lab = await labUp({ prefix, dir: DIR, extraConfig: 'igd: { version: 2, requestRate: { perSecond: 100000, burst: 100000 } }' });
    h1Addr = lab.hostAddresses.h1!;
    h2Addr = lab.hostAddresses.h2!;
  });

  const upnpc = (host: 'h1' | 'h2', ...args: string[]) => must(lab.namespaces[host], 'upnpc', ['-i', ...args], 60_000);

  /** A SOAP request from h1 with curl: the status line and the body. */
  async function soap(serviceType: string, action: string, args: ReadonlyArray<readonly [string, string]>, userAgent = 'curl'):
    Promise<{ status: number; body: string }> {
    const call = { serviceType, action, args };
    const out = await must(lab.namespaces.h1, 'curl', ['-s', '-i', '-m', '30', '-A', userAgent, '-X', 'POST',
      '-H', `SOAPAction: ${soapActionHeader(call)}`, '-H', 'Content-Type: text/xml; charset="utf-8"', '--data-binary', soapEnvelope(call), CONTROL], 60_000);
    const split = out.indexOf('\r\n\r\n');
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0), body: out.slice(split + 4) };
  }

  const probe = (proto: 'tcp' | 'udp', externalPort: number, internalPort: number) =>
    probeMapping(lab, cleanup, proto, lab.wanAddress, externalPort, internalPort, { expect: true });

  test('upnpc finds an InternetGatewayDevice:2 with WANIPConnection:2', async () => {
    const out = await upnpc('h1', '-s');
    // upnpc searches for IGD:1 first; SSDP answers a lower version's search in that version (UDA 1.1 §1.3.2).
    assert.match(out, /st: urn:schemas-upnp-org:device:InternetGatewayDevice:1/);
    assert.match(out, /Found a \(not connected\?\) IGD : http:\/\/192\.168\.1\.1:5000\/ctl\/IPConn/);
    assert.match(out, /ExternalIPAddress = 203\.0\.113\.2/);
    const description = await must(lab.namespaces.h1, 'curl', ['-s', '-m', '5', `${BASE}/rootDesc.xml`]);
    assert.match(description, /<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2<\/deviceType>/);
    assert.match(description, new RegExp(`<serviceType>${V2}</serviceType>`));
  });

  test('upnpc -n: the asked port is held by h2, so h1 gets the nearest free one, and it forwards', async () => {
    assert.match(await upnpc('h2', '-e', 'h2 web', '-a', h2Addr, '8080', '18080', 'TCP'), /external 203\.0\.113\.2:18080 TCP is redirected to internal/);
    const out = await upnpc('h1', '-e', 'h1 web', '-n', h1Addr, '8080', '18080', 'TCP', '3600');
    assert.match(out, /external 203\.0\.113\.2:18081 TCP is redirected to internal [\d.]+:8080/, out);
    // upnpc -L prints the PortMappingList's entries last to first.
    const listed = parseUpnpcList(await upnpc('h1', '-L')).sort((a, b) => a.externalPort - b.externalPort);
    assert.deepEqual(listed.filter((m) => m.protocol === 'TCP').map((m) => [m.externalPort, m.internalClient, m.description]),
      [[18080, h2Addr, 'h2 web'], [18081, h1Addr, 'h1 web']]);
    await probe('tcp', 18081, 8080);
  });

  test(`upnpc -L and GetListOfPortMappings with ${BURST} more mappings: listed, and the daemon keeps running`, async () => {
    const burst = background(lab.namespaces.h1, 'python3', [PORT_PROBE, 'add-burst', CONTROL, V2, h1Addr, '30000', String(BURST), '4']);
    cleanup.add(() => burst.stop());
    await until(`${BURST} adds answered`, async () => [...burst.output().matchAll(/^(ok|fail) /gm)].length >= BURST, 120_000, 200);
    assert.doesNotMatch(burst.output(), /^fail /m);
    const started = Date.now();
    const all = await soap(V2, 'GetListOfPortMappings', [['NewStartPort', '0'], ['NewEndPort', '65535'], ['NewProtocol', 'TCP'],
      ['NewManage', '1'], ['NewNumberOfPorts', '0']]);
    const elapsedMs = Date.now() - started;
    assert.equal(all.status, 200);
    assert.equal([...all.body.matchAll(/<p:PortMappingEntry>/g)].length, BURST + 2);
    assert.match(all.body, /<p:NewExternalPort>32999<\/p:NewExternalPort>/);
    console.log(`# GetListOfPortMappings: ${BURST + 2} entries, ${all.body.length} bytes in ${elapsedMs} ms`);
    // upnpc -L asks for at most 1000 ports per protocol (its own NewNumberOfPorts): the first 1000 by port.
    const listed = parseUpnpcList(await upnpc('h1', '-L')).filter((m) => m.protocol === 'TCP').map((m) => m.externalPort);
    assert.deepEqual(listed.sort((a, b) => a - b), [18080, 18081, ...Array.from({ length: 998 }, (_, i) => 30000 + i)]);
    const { status, json } = await admin(lab.adminSocket, 'GET', '/mappings');
    assert.equal(status, 200);
    assert.equal((json as unknown[]).length, BURST + 2);
    assert.match(await upnpc('h1', '-s'), /ExternalIPAddress = 203\.0\.113\.2/);
  });

  test('upnpc -N deletes a range of the caller\'s mappings; another host\'s mapping in the range stays', async () => {
    await upnpc('h1', '-N', '18000', '32999', 'TCP');
    const { json } = await admin(lab.adminSocket, 'GET', '/mappings');
    assert.deepEqual((json as Array<{ externalPort: number }>).map((m) => m.externalPort), [18080]);
    const none = await soap(V2, 'DeletePortMappingRange', [['NewStartPort', '30000'], ['NewEndPort', '32999'], ['NewProtocol', 'TCP'], ['NewManage', '0']]);
    assert.equal(none.status, 500);
    assert.match(none.body, /<errorCode>730<\/errorCode><errorDescription>PortMappingNotFound<\/errorDescription>/);
  });

  test('a Microsoft User-Agent gets the IGD:1 description and SCPD, and is answered as IGD:1 (add, look up, re-list to 713)', async () => {
    const description = await must(lab.namespaces.h1, 'curl', ['-s', '-m', '5', '-A', WINDOWS, `${BASE}/rootDesc.xml`]);
    assert.match(description, /<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1<\/deviceType>/);
    assert.match(description, new RegExp(`<serviceType>${V1}</serviceType>`));
    assert.doesNotMatch(description, /:2</);
    const scpd = await must(lab.namespaces.h1, 'curl', ['-s', '-m', '5', '-A', WINDOWS, `${BASE}/WANIPCn.xml`]);
    assert.match(scpd, /<name>AddPortMapping<\/name>/);
    assert.doesNotMatch(scpd, /AddAnyPortMapping|GetListOfPortMappings|SystemUpdateID/);
    const added = await soap(V1, 'AddPortMapping', [['NewRemoteHost', ''], ['NewExternalPort', '4662'], ['NewProtocol', 'TCP'],
      ['NewInternalPort', '4662'], ['NewInternalClient', h1Addr], ['NewEnabled', '1'], ['NewPortMappingDescription', 'eMule'],
      ['NewLeaseDuration', '0']], WINDOWS);
    assert.equal(added.status, 200);
    assert.match(added.body, new RegExp(`<u:AddPortMappingResponse xmlns:u="${V1}">`));
    const entry = await soap(V1, 'GetSpecificPortMappingEntry', [['NewRemoteHost', ''], ['NewExternalPort', '4662'], ['NewProtocol', 'TCP']], WINDOWS);
    assert.match(entry.body, /<NewLeaseDuration>0<\/NewLeaseDuration>/, 'an IGD:1 request keeps IGD:1\'s static lease');
    // Windows re-lists from index 0 until 713 after every change.
    const ports: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await soap(V1, 'GetGenericPortMappingEntry', [['NewPortMappingIndex', String(i)]], WINDOWS);
      if (r.status === 500) {
        assert.match(r.body, /<errorCode>713<\/errorCode>/);
        break;
      }
      assert.match(r.body, new RegExp(`<u:GetGenericPortMappingEntryResponse xmlns:u="${V1}">`));
      ports.push(/<NewExternalPort>(\d+)<\/NewExternalPort>/.exec(r.body)![1]!);
    }
    assert.deepEqual(ports, ['18080', '4662']);
  });

  test('GENA: SystemUpdateID is in the initial event and changes with the next mapping', async () => {
    const events = background(lab.namespaces.h1, 'python3', [PORT_PROBE, 'events', '48000', '30']);
    cleanup.add(() => events.stop());
    await until('the callback server', async () => (await sh(lab.namespaces.h1, 'ss', ['-lnt'])).stdout.includes(':48000 '), 5_000, 50);
    const sub = await must(lab.namespaces.h1, 'curl', ['-s', '-i', '-m', '5', '-X', 'SUBSCRIBE', '-H', `CALLBACK: <http://${h1Addr}:48000/ev>`,
      '-H', 'NT: upnp:event', '-H', 'TIMEOUT: Second-300', `${BASE}/evt/IPConn`]);
    assert.match(sub, /^HTTP\/1\.1 200/);
    const initial = await until('the initial event', async () => /^event 0 .*<SystemUpdateID>(\d+)<\/SystemUpdateID>/m.exec(events.output()), 10_000);
    await upnpc('h1', '-n', h1Addr, '9000', '19000', 'UDP', '600');
    const next = await until('a SystemUpdateID event', async () => /^event [1-9]\d* .*<SystemUpdateID>(\d+)<\/SystemUpdateID>/m.exec(events.output()), 10_000);
    assert.ok(Number(next[1]) > Number(initial[1]), `${initial[1]} → ${next[1]}`);
    assert.match(events.output(), /^event [1-9]\d* .*<PortMappingNumberOfEntries>3<\/PortMappingNumberOfEntries>/m);
    await events.stop();
  });

  test('QueryStateVariable answers an old client; an unknown variable is 404 Invalid Var', async () => {
    const ask = (name: string) => soap('urn:schemas-upnp-org:control-1-0', 'QueryStateVariable', [['u:varName', name]]);
    const ip = await ask('ExternalIPAddress');
    assert.equal(ip.status, 200);
    assert.match(ip.body, /<u:QueryStateVariableResponse xmlns:u="urn:schemas-upnp-org:control-1-0"><return>203\.0\.113\.2<\/return>/);
    assert.match((await ask('PortMappingNumberOfEntries')).body, /<return>3<\/return>/);
    const unknown = await ask('NoSuchVariable');
    assert.equal(unknown.status, 500);
    assert.match(unknown.body, /<errorCode>404<\/errorCode><errorDescription>Invalid Var<\/errorDescription>/);
  });
});
