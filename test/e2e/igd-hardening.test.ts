/**
 * Bad input against the running daemon's IGD, from a LAN host (issue 4, hardening; quality
 * bar "bad input"): malformed SSDP datagrams are dropped and counted, malformed HTTP/SOAP
 * requests get 4xx or a fault or a closed connection, and afterwards the gateway still
 * answers `upnpc`, with its mappings as they were. Permission rules from the config (B3)
 * refuse what they do not allow, and nobody may map the gateway itself.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labUp, labDown } from '@openigd/gateway';
import { uniquePrefix, sh, must, Cleanup, isRoot } from '../lib/ns.js';
import { admin, status } from '../lib/admin.js';
import { addPortMappingCall, soapActionHeader, soapEnvelope } from '@openigd/conformance';

const DIR = '/run/openigd-lab';
const ABUSE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'e2e', 'tools', 'igd-abuse.py');
const skip = !isRoot() ? 'needs root for namespaces and TAP devices' : false;

interface IgdStatus { igd: { ssdp: { received: number; malformed: Record<string, number>; ignored: number; searches: number } } }

describe('the IGD under bad input (U1, U2, hardening)', { skip }, () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  test('malformed SSDP and HTTP from the LAN: counted drops and 4xx, no crash, state intact', async () => {
    const prefix = uniquePrefix('h');
    cleanup.add(() => labDown(prefix, DIR));
    // miniupnpd's default permission rules: only ports ≥ 1024, only the LAN.
    const lab = await labUp({ prefix, dir: DIR, extraConfig: 'igd: { rules: ["allow 1024-65535 192.168.1.0/24 1024-65535", "deny 0-65535 0.0.0.0/0 0-65535"] }' });
    const h1 = lab.namespaces.h1;
    const h1Addr = lab.hostAddresses.h1!;
    // A description with markup in it, escaped as XML demands (upnpc sends -e text unescaped,
    // which an XML parser must refuse), so the request goes by curl.
    const st = 'urn:schemas-upnp-org:service:WANIPConnection:1';
    const add = addPortMappingCall(st, {
      remoteHost: '', externalPort: 18080, protocol: 'TCP', internalPort: 8080, internalClient: h1Addr, enabled: true, description: '<b>x</b> & y', leaseSeconds: 0,
    });
    const added = await must(h1, 'curl', ['-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Content-Type: text/xml',
      '-H', `SOAPAction: ${soapActionHeader(add)}`, '--data-binary', soapEnvelope(add), `http://${lab.lanAddress}:5000/ctl/IPConn`]);
    assert.equal(added, '200');
    // The status page (the presentation URL) shows a client's description as text, never as markup.
    const page = await must(h1, 'curl', ['-s', '-m', '5', `http://${lab.lanAddress}:5000/`]);
    assert.match(page, /&lt;b&gt;x&lt;\/b&gt; &amp; y/);
    assert.doesNotMatch(page, /<b>x<\/b>/);
    const before = (await status(lab.adminSocket)) as unknown as IgdStatus;

    const ssdp = await must(h1, 'python3', [ABUSE, 'ssdp', '400', '7'], 30_000);
    assert.match(ssdp, /^sent (\d+)$/m);
    const http = await must(h1, 'python3', [ABUSE, 'http', lab.lanAddress, '5000', '7'], 60_000);
    const answers = Object.fromEntries(http.trim().split('\n').map((l) => l.split(' ').reverse()));
    assert.equal(answers['oversized-body'], '413', http);
    assert.equal(answers.doctype, '400', http);
    assert.equal(answers['unknown-method'], '400', `Node's parser refuses a method it does not know: ${http}`);
    assert.equal(answers['wrong-method'], '405', http);
    assert.equal(answers['not-xml'], '400', http);
    for (const name of ['random', 'bad-chunks', 'bad-content-length']) {
      assert.ok(answers[name] === 'closed' || /^4\d\d$/.test(answers[name] ?? ''), `${name}: ${answers[name]}`);
    }
    assert.equal(answers['request-line-only'], '400', 'a request line without Host is refused');

    // The permission rules: internal port 80 is refused, as miniupnpd's defaults would.
    const low = await sh(h1, 'upnpc', ['-i', '-a', h1Addr, '80', '18081', 'TCP'], 30_000);
    assert.match(low.stdout + low.stderr, /606/, 'internal port 80 is outside the allowed 1024-65535');
    // The gateway itself cannot be published on the WAN by a LAN client.
    const self = await sh(h1, 'upnpc', ['-i', '-a', lab.lanAddress, '5000', '15000', 'TCP'], 30_000);
    assert.match(self.stdout + self.stderr, /606/, 'AddPortMapping to the gateway\'s own address: Action not authorized');

    const after2 = (await status(lab.adminSocket)) as unknown as IgdStatus;
    const malformed = (s: IgdStatus) => Object.values(s.igd.ssdp.malformed).reduce((a, b) => a + b, 0);
    assert.ok(malformed(after2) - malformed(before) >= 100, `SSDP malformed drops counted: ${JSON.stringify(after2.igd.ssdp)}`);
    assert.equal((await sh(null, 'kill', ['-0', String(lab.daemonPid)])).code, 0, 'the daemon still runs');
    const s = await must(h1, 'upnpc', ['-i', '-s'], 30_000);
    assert.match(s, /ExternalIPAddress = 203\.0\.113\.2/);
    const { json } = await admin(lab.adminSocket, 'GET', '/mappings');
    assert.deepEqual((json as { externalPort: number }[]).map((m) => m.externalPort), [18080]);
  });
});
