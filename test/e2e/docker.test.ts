/**
 * Issue 11: OpenIGD in Docker (B7, B8 in docs/requirements.md), on a Docker engine of the test's own
 * (test/lib/docker-engine.ts: dockerd in a network namespace, no network of its own).
 * The images are built here from source (test/lib/docker-images.ts), then:
 *  - the container needs NET_ADMIN and /dev/net/tun and says so in one line without
 *    them; a bad config is one line; the healthcheck is healthy only once it forwards;
 *  - the compose lab (docker/compose.yaml): upnpc in a LAN container maps a port the
 *    server then reaches (TCP, UDP), the mapping survives `restart gateway`, `down -v`
 *    leaves nothing;
 *  - the NAT-type matrix (docker/compose.matrix.yaml): turnutils_natdiscovery per LAN,
 *    hole punching as RFC 4787 predicts, and with UPnP port mappings;
 *  - `openigd lab` inside one container.
 * Skipped, with the reason, when not root or when docker.io / docker-compose / debootstrap
 * are not installed. Everything made (engine, namespace, images, temp folders) is removed
 * at the end, also on failure.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEngine, dockerSkipReason, type DockerEngine } from '../lib/docker-engine.js';
import { buildImages, IMAGE, TOOLS_IMAGE, REPO } from '../lib/docker-images.js';
import { Cleanup, until } from '../lib/ns.js';

const skip = dockerSkipReason() ?? false;
const MB = 1e6;

describe('OpenIGD in Docker (B7, B8)', { skip }, () => {
  const cleanup = new Cleanup();
  let engine: DockerEngine;
  let scratch = '';
  const t0 = Date.now();
  after(async () => {
    await cleanup.run();
    console.log(`# Docker part: ${((Date.now() - t0) / 1000).toFixed(0)} s in all`);
  });
  before(async () => {
    engine = await startEngine((l) => console.log(`# ${l}`));
    cleanup.add(() => engine.stop());
    scratch = await mkdtemp(join(tmpdir(), 'oi-dkt-'));
    cleanup.add(() => rm(scratch, { recursive: true, force: true }));
    const built = await buildImages(engine, (l) => console.log(`# ${l}`));
    console.log(`# image ${IMAGE}: ${(built.imageBytes / MB).toFixed(1)} MB; build steps (s): ${JSON.stringify(built.seconds)}`);
  });

  /** Runs the gateway image once (`docker run --rm`), with its networks made by the test. */
  async function runOnce(args: readonly string[], cmd: readonly string[] = []) {
    return engine.docker(['run', '--rm', '--network', 'none', ...args, IMAGE, ...cmd], 60_000);
  }

  test('the image is under 250 MB', async () => {
    const bytes = Number((await engine.mustDocker(['image', 'inspect', '-f', '{{.Size}}', IMAGE])).trim());
    assert.ok(bytes < 250 * MB, `${(bytes / MB).toFixed(1)} MB`);
  });

  test('without NET_ADMIN or /dev/net/tun, or with a bad config, it exits with one line (acceptance 4)', async () => {
    const noCap = await runOnce(['--device', '/dev/net/tun']);
    assert.equal(noCap.code, 1, noCap.stdout + noCap.stderr);
    assert.equal(noCap.stderr, 'openigd: needs the NET_ADMIN capability: run the container with --cap-add NET_ADMIN\n');
    const noTun = await runOnce(['--cap-add', 'NET_ADMIN']);
    assert.equal(noTun.code, 1, noTun.stdout + noTun.stderr);
    assert.equal(noTun.stderr, 'openigd: /dev/net/tun is missing: run the container with --device /dev/net/tun\n');
    const badEnv = await runOnce(['--cap-add', 'NET_ADMIN', '--device', '/dev/net/tun', '-e', 'OPENIGD_NAT_PRESET=fullcone', '-e', 'OPENIGD_ATTACH=lan=lo,wan=lo']);
    assert.equal(badEnv.code, 1);
    assert.match(badEnv.stderr, /^openigd: bad config: nat\.preset: must be one of full-cone, restricted-cone, port-restricted-cone, symmetric, rfc\n$/);
    const yaml = join(scratch, 'bad.yaml');
    await writeFile(yaml, 'nat: { preset: symmetric }\nlan: { dhcp: { range: 10.0.0.5-10.0.0.9 } }\n');
    const badFile = await runOnce(['--cap-add', 'NET_ADMIN', '--device', '/dev/net/tun', '-v', `${yaml}:/etc/openigd/openigd.yaml:ro`,
      '-e', 'OPENIGD_ATTACH=lan=lo,wan=lo']);
    assert.equal(badFile.code, 1);
    assert.match(badFile.stderr, /^openigd: bad config: lan\.dhcp\.range: must lie inside the LAN 127\.0\.0\.1\/8\n$/);
  });

  test('the healthcheck is healthy only once the gateway forwards: not while its WAN has no address (acceptance 4)', async () => {
    const name = `oi-hc${Date.now().toString(36)}`;
    cleanup.add(async () => {
      await engine.docker(['rm', '-f', name]);
      await engine.docker(['network', 'rm', `${name}-lan`, `${name}-wan`]);
    });
    await engine.mustDocker(['network', 'create', '--internal', '--subnet', '10.20.0.0/24', `${name}-lan`]);
    await engine.mustDocker(['network', 'create', '--internal', '--subnet', '10.21.0.0/24', `${name}-wan`]);
    const yaml = join(scratch, 'wan-dhcp.yaml');
    await writeFile(yaml, 'wan: { address: dhcp }\n');
    await engine.mustDocker(['create', '--name', name, '--cap-add', 'NET_ADMIN', '--device', '/dev/net/tun', '--network', `${name}-lan`,
      '--ip', '10.20.0.2', '-v', `${yaml}:/etc/openigd/openigd.yaml:ro`, '-e', 'OPENIGD_ATTACH=lan=10.20.0.2,wan=10.21.0.2', IMAGE]);
    await engine.mustDocker(['network', 'connect', '--ip', '10.21.0.2', `${name}-wan`, name]);
    await engine.mustDocker(['start', name]);
    const health = async () => JSON.parse(await engine.mustDocker(['inspect', '-f', '{{json .State.Health}}', name])) as
      { Status: string; Log: { Output: string }[] | null };
    // No DHCP server on its WAN: it runs but forwards nothing, and is never healthy.
    await until('three health checks', async () => ((await health()).Log?.length ?? 0) >= 3, 30_000, 500);
    const before = await health();
    assert.notEqual(before.Status, 'healthy');
    assert.match(before.Log!.at(-1)!.Output, /unhealthy: the WAN has no address yet/);
    // Given an address through the admin API (the image's `openigd` command, on PATH), it forwards, and the check says so.
    const set = await engine.docker(['exec', name, 'openigd', 'wan', 'set', '10.21.0.2/24', '10.21.0.1', '--json']);
    assert.equal(set.code, 0, set.stdout + set.stderr);
    assert.deepEqual(JSON.parse(set.stdout), { ok: true, address: '10.21.0.2', prefixLength: 24, gateway: '10.21.0.1' });
    await until('healthy', async () => (await health()).Status === 'healthy', 30_000, 500);
    const status = JSON.parse(await engine.mustDocker(['exec', name, 'openigd', 'status', '--json'])) as { wan: { address: string; gateway: string } };
    assert.deepEqual([status.wan.address, status.wan.gateway], ['10.21.0.2/24', '10.21.0.1']);
    await engine.mustDocker(['rm', '-f', name]);
  });

  test('`openigd lab` runs inside one container (NET_ADMIN, SYS_ADMIN for its namespaces, /dev/net/tun)', async () => {
    const name = `oi-lab${Date.now().toString(36)}`;
    cleanup.add(() => engine.docker(['rm', '-f', name]));
    await engine.mustDocker(['run', '-d', '--name', name, '--network', 'none', '--cap-add', 'NET_ADMIN', '--cap-add', 'SYS_ADMIN',
      '--device', '/dev/net/tun', IMAGE, 'lab']);
    await until('the lab to be up', async () => /lab: up/.test((await engine.docker(['logs', name])).stdout), 60_000, 500);
    const ping = await engine.docker(['exec', name, 'ip', 'netns', 'exec', 'oi-lab-h1', 'busybox', 'ping', '-c', '2', '-W', '2', '198.51.100.10']);
    assert.match(ping.stdout, /2 packets received/, ping.stdout + ping.stderr);
    await until('healthy', async () => (await engine.mustDocker(['inspect', '-f', '{{.State.Health.Status}}', name])).trim() === 'healthy', 20_000, 500);
    await engine.mustDocker(['stop', '-t', '20', name], 30_000);
    assert.match((await engine.docker(['logs', name])).stdout, /lab oi-lab: down/);
    await engine.mustDocker(['rm', name]);
  });

  describe('the compose lab (docker/compose.yaml)', () => {
    const project = `oi${Date.now().toString(36)}`;
    const compose = (args: readonly string[], timeoutMs?: number) =>
      engine.compose(['-p', project, '-f', join(REPO, 'docker', 'compose.yaml'), ...args], timeoutMs);
    const mustCompose = async (args: readonly string[], timeoutMs?: number) => {
      const r = await compose(args, timeoutMs);
      if (r.code !== 0) throw new Error(`docker-compose ${args.join(' ')} exited ${r.code}: ${(r.stderr + r.stdout).slice(-3000)}`);
      return r.stdout;
    };
    const exec = (service: string, cmd: readonly string[], timeoutMs = 60_000) => compose(['exec', '-T', service, ...cmd], timeoutMs);
    before(async () => {
      Object.assign(engine.env, { OPENIGD_IMAGE: IMAGE, OPENIGD_TOOLS_IMAGE: TOOLS_IMAGE });
      cleanup.add(() => compose(['down', '-v', '-t', '3']));
      await mustCompose(['up', '-d', '--no-build'], 180_000);
    });

    async function health(): Promise<string> {
      const id = (await mustCompose(['ps', '-q', 'gateway'])).trim();
      return (await engine.mustDocker(['inspect', '-f', '{{.State.Health.Status}}', id])).trim();
    }

    /**
     * A listener in a LAN container and a sender in the server through the gateway's WAN
     * address. No wait for the listener: the sender retries (TCP connects every 300 ms,
     * UDP pings every 200 ms) until it gets an answer or its time is up.
     */
    async function reach(proto: 'tcp' | 'udp', internalPort: number, externalPort: number, host = 'client-upnp'): Promise<void> {
      const listener = exec(host, ['node', '/opt/tools/probe.mjs', 'listen', proto, String(internalPort), '20']);
      const sent = await exec('server', ['node', '/opt/tools/probe.mjs', 'send', proto, '198.51.100.2', String(externalPort), '15']);
      const got = await listener;
      assert.equal(sent.code, 0, `${proto} to 198.51.100.2:${externalPort}: ${sent.stdout}${sent.stderr}`);
      assert.match(got.stdout, new RegExp(`got ${proto} from 198\\.51\\.100\\.10:\\d+ ping`));
    }

    test('the gateway turns healthy, and then the LAN reaches the server through it (acceptance 4)', async () => {
      assert.equal(await health(), 'healthy', 'up -d waited for service_healthy');
      const r = await exec('client-upnp', ['node', '/opt/tools/probe.mjs', 'send', 'udp', '198.51.100.10', '9', '2']);
      assert.match(r.stdout, /no reply/, 'nothing listens on the server yet');
      const listener = exec('server', ['node', '/opt/tools/probe.mjs', 'listen', 'tcp', '8000', '15']);
      const sent = await exec('client-upnp', ['node', '/opt/tools/probe.mjs', 'send', 'tcp', '198.51.100.10', '8000', '10']);
      assert.equal(sent.code, 0, sent.stdout + sent.stderr);
      // The server sees the gateway's WAN address, not the LAN host's: translated by OpenIGD, not routed.
      assert.match((await listener).stdout, /got tcp from 198\.51\.100\.2:\d+ ping/);
    });

    test('upnpc in a LAN container maps ports the server reaches over TCP and UDP (acceptance 2)', async () => {
      const tcp = await exec('client-upnp', ['upnpc', '-i', '-e', 'compose tcp', '-a', '10.10.0.10', '8080', '18080', 'TCP']);
      assert.match(tcp.stdout, /external 198\.51\.100\.2:18080 TCP is redirected to internal 10\.10\.0\.10:8080/, tcp.stdout + tcp.stderr);
      const udp = await exec('client-upnp', ['upnpc', '-i', '-a', '10.10.0.10', '9090', '19090', 'UDP']);
      assert.match(udp.stdout, /external 198\.51\.100\.2:19090 UDP is redirected to internal 10\.10\.0\.10:9090/, udp.stdout + udp.stderr);
      await reach('tcp', 8080, 18080);
      await reach('udp', 9090, 19090);
    });

    test('natpmpc in the other LAN container gets the external address and maps ports the server reaches (B2)', async () => {
      const natpmpc = (...args: string[]) => exec('client-natpmp', ['natpmpc', '-g', '10.10.0.2', ...args]);
      assert.match((await natpmpc()).stdout, /Public IP address : 198\.51\.100\.2/);
      const tcp = await natpmpc('-a', '28080', '8080', 'tcp', '3600');
      assert.match(tcp.stdout, /Mapped public port 28080 protocol TCP to local port 8080 lif(e)?time 3600/, tcp.stdout + tcp.stderr);
      const udp = await natpmpc('-a', '29090', '9090', 'udp', '3600');
      assert.match(udp.stdout, /Mapped public port 29090 protocol UDP to local port 9090 lif(e)?time 3600/, udp.stdout + udp.stderr);
      await reach('tcp', 8080, 28080, 'client-natpmp');
      await reach('udp', 9090, 29090, 'client-natpmp');
      // One table: upnpc in the first container lists what natpmpc made.
      const listed = await exec('client-upnp', ['upnpc', '-i', '-l']);
      assert.match(listed.stdout, /TCP\s+28080->10\.10\.0\.11:8080/, listed.stdout);
    });

    test('the mappings survive `restart gateway` (the state volume) and forward again (acceptance 2)', async () => {
      await mustCompose(['restart', '-t', '5', 'gateway'], 60_000);
      await until('the gateway to be healthy again', async () => (await health()) === 'healthy', 30_000, 500);
      const listed = await exec('client-upnp', ['upnpc', '-i', '-l']);
      assert.match(listed.stdout, /TCP\s+18080->10\.10\.0\.10:8080\s+'compose tcp'/, listed.stdout);
      assert.match(listed.stdout, /UDP\s+19090->10\.10\.0\.10:9090/, listed.stdout);
      await reach('tcp', 8080, 18080);
      await reach('udp', 9090, 19090);
    });

    test('`down -v` leaves no container, network or volume behind (acceptance 2)', async () => {
      await mustCompose(['down', '-v', '-t', '3'], 60_000);
      const left = await Promise.all([
        engine.mustDocker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`]),
        engine.mustDocker(['network', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`]),
        engine.mustDocker(['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`]),
      ]);
      assert.deepEqual(left.map((s) => s.trim()), ['', '', '']);
    });
  });

  describe('the NAT-type matrix (docker/compose.matrix.yaml)', () => {
    const project = `oim${Date.now().toString(36)}`;
    const compose = (args: readonly string[], timeoutMs?: number) =>
      engine.compose(['-p', project, '-f', join(REPO, 'docker', 'compose.matrix.yaml'), ...args], timeoutMs);
    const exec = (service: string, cmd: readonly string[], timeoutMs = 60_000) => compose(['exec', '-T', service, ...cmd], timeoutMs);
    const RENDEZVOUS = '198.51.100.10:4000';
    before(async () => {
      Object.assign(engine.env, { OPENIGD_IMAGE: IMAGE, OPENIGD_TOOLS_IMAGE: TOOLS_IMAGE });
      cleanup.add(() => compose(['down', '-v', '-t', '3']));
      const up = await compose(['up', '-d', '--no-build'], 240_000);
      assert.equal(up.code, 0, (up.stderr + up.stdout).slice(-3000));
    });

    test('turnutils_natdiscovery in each LAN reports the NAT(s) in front of it (B8)', async () => {
      const expected = {
        'host-full': ['Endpoint Independent', 'Endpoint Independent'],
        'host-sym': ['Address and Port Dependent', 'Address and Port Dependent'],
        // A full-cone home router behind a port-restricted carrier NAT: the two combined.
        'host-home': ['Endpoint Independent', 'Address and Port Dependent'],
      } as const;
      const found = await Promise.all(Object.keys(expected).map((h) => exec(h, ['turnutils_natdiscovery', '-m', '-f', '198.51.100.10'], 90_000)));
      for (const [i, [host, [mapping, filtering]]] of Object.entries(expected).entries()) {
        const text = found[i]!.stdout + found[i]!.stderr;
        assert.match(text, new RegExp(`NAT with ${mapping} Mapping!`), `${host}: ${text}`);
        assert.match(text, new RegExp(`NAT with ${filtering} Filtering!`), `${host}: ${text}`);
      }
    });

    /** Two peers punching at once through the rendezvous; resolves with each one's outcome line. */
    async function punch(a: [string, string], b: [string, string], localPorts: [number, number], advertise: [string?, string?] = []) {
      const tag = Math.random().toString(36).slice(2, 6);
      const run = (host: string, me: string, peer: string, port: number, adv?: string) =>
        exec(host, ['node', '/opt/tools/punch.mjs', 'peer', `${me}${tag}`, `${peer}${tag}`, RENDEZVOUS, String(port), '6', ...(adv ? [adv] : [])]);
      const [ra, rb] = await Promise.all([run(a[0], a[1], b[1], localPorts[0], advertise[0]), run(b[0], b[1], a[1], localPorts[1], advertise[1])]);
      return { a: ra, b: rb, both: ra.code === 0 && rb.code === 0, text: `${a[0]}: ${ra.stdout}${ra.stderr}\n${b[0]}: ${rb.stdout}${rb.stderr}` };
    }

    test('UDP hole punching succeeds between cone NATs, behind the double NAT too (RFC 4787)', async () => {
      const r = await punch(['host-full', 'full'], ['host-home', 'home'], [6001, 6001]);
      assert.ok(r.both, r.text);
      assert.match(r.a.stdout, /punched: got punch home\w* from 198\.51\.100\.24:\d+/, 'through the carrier NAT');
    });

    test('it fails with symmetric NATs on both sides, as RFC 4787 says it must', async () => {
      const r = await punch(['host-sym', 'sym'], ['host-sym2', 'symtwo'], [6002, 6002]);
      assert.equal(r.a.code, 1, r.text);
      assert.equal(r.b.code, 1, r.text);
      assert.match(r.a.stdout, /not punched/);
    });

    test('and succeeds between the same symmetric NATs once one side maps its port by UPnP', async () => {
      const map = await exec('host-sym', ['upnpc', '-i', '-a', '10.2.0.10', '7000', '7000', 'UDP']);
      assert.match(map.stdout, /external 198\.51\.100\.22:7000 UDP is redirected to internal 10\.2\.0\.10:7000/, map.stdout + map.stderr);
      const r = await punch(['host-sym', 'sym'], ['host-sym2', 'symtwo'], [7000, 6003], ['198.51.100.22:7000']);
      assert.ok(r.both, r.text);
      assert.match(r.b.stdout, /got punch sym\w* from 198\.51\.100\.22:7000/);
    });
  });
});
