/**
 * Issue 13, acceptance 2: the admin page in a real browser. Debian's `chromium`, driven by
 * `puppeteer-core` over a pipe, runs inside the lab's gateway namespace (`ip netns exec
 * <P>-gw`), where the admin listener is on 127.0.0.1; there it has no route anywhere but
 * that loopback and the lab. The page asks for the admin token, then shows the flows of
 * an `iperf3` run and a ping live and filters them; a mapping added on the page lets the
 * internet namespace reach a LAN host's listener (and `upnpc -l` lists it), disabling it
 * stops that traffic, deleting it removes it; captures go on and off. Screenshots are kept
 * in $OPENIGD_ARTIFACTS or test/artifacts/web/ (git ignores it).
 */
// The functions handed to the page run in the browser: they use the DOM.
/// <reference lib="dom" />
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { labUp, labDown, type LabRecord } from '@openigd/gateway';
import { uniquePrefix, sh, must, background, Cleanup, isRoot, until } from '../lib/ns.js';
import { admin } from '../lib/admin.js';
import { parseUpnpcList, probeMapping } from '../lib/lab-probe.js';

const DIR = '/run/openigd-lab';
const PORT = 9108;
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = process.env.OPENIGD_ARTIFACTS
  ? join(process.env.OPENIGD_ARTIFACTS, 'web')
  : join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'artifacts', 'web');
const skip = !isRoot() ? 'needs root for namespaces and TAP devices'
  : !existsSync(CHROMIUM) ? `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)` : false;

/**
 * Chromium switches on top of puppeteer's own (which already turn off background
 * networking, sync and component updates): no Media Router (it would search the network
 * with SSDP/DIAL), no pings, no crash uploads. The namespace has no route out anyway.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-dev-shm-usage', '--no-pings', '--disable-breakpad', '--disable-domain-reliability',
  '--disable-features=MediaRouter,DialMediaRouteProvider,OptimizationHints,Translate', '--window-size=1360,1000',
];

type Row = string[];

/** The text of each cell of each row of a table's body. */
const rows = (page: Page, table: string): Promise<Row[]> =>
  page.$$eval(`#${table} tbody tr`, (trs) => trs.map((tr) => Array.from((tr as HTMLTableRowElement).cells, (c) => c.textContent ?? '')));

describe('the admin page in chromium (issue 13, acceptance 2)', { skip }, () => {
  const prefix = uniquePrefix('w');
  const cleanup = new Cleanup();
  const token = randomBytes(24).toString('hex');
  let lab: LabRecord;
  let browser: Browser;
  let page: Page;
  let h1Addr = '', h2Addr = '';

  const shot = async (name: string): Promise<void> => {
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  };
  /** Waits until the page's table satisfies `check`, at most 15 s; resolves with its rows. */
  const waitRows = (table: string, what: string, check: (cells: Row[]) => boolean): Promise<Row[]> => {
    let last: Row[] = [];
    return until(what, async () => {
      last = await rows(page, table);
      return check(last) ? last : null;
    }, 15_000, 200).catch((e: Error) => {
      throw new Error(`${e.message}; the table shows ${JSON.stringify(last)}`, { cause: e });
    });
  };
  const filterFlows = async (f: { proto?: string; addr?: string; port?: string; state?: string }): Promise<void> => {
    await page.select('#flow-filter select[name=proto]', f.proto ?? '');
    await page.select('#flow-filter select[name=state]', f.state ?? '');
    for (const name of ['addr', 'port'] as const) {
      await page.$eval(`#flow-filter input[name=${name}]`, (e, v) => { (e as HTMLInputElement).value = v; }, f[name] ?? '');
    }
    await page.click('#flow-filter button[type=submit]');
  };
  const mappingRow = (key: string) => `#mappings tbody tr[data-key="${key}"]`;
  /**
   * Clicks a control in a mapping's row. The page redraws its tables as it polls, so an
   * element found by one call can be replaced before a second one clicks it (puppeteer:
   * "Node is detached from document"); found and clicked in one evaluation, it cannot.
   */
  const clickInRow = (key: string, control: string) => page.$eval(`${mappingRow(key)} ${control}`, (e) => { (e as HTMLElement).click(); });

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const tokenFile = join(DIR, `${prefix}-token`);
    await mkdir(DIR, { recursive: true });
    cleanup.add(() => sh(null, 'rm', ['-f', tokenFile]));
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    cleanup.add(() => labDown(prefix, DIR));
    lab = await labUp({ prefix, dir: DIR, adminConfig: `listen: 127.0.0.1:${PORT}, tokenFile: ${tokenFile}` });
    h1Addr = lab.hostAddresses.h1!;
    h2Addr = lab.hostAddresses.h2!;
    // Chromium in the gateway's namespace, where the admin listener's loopback is.
    const wrapper = join(lab.dir, 'chromium-in-gw');
    await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${lab.namespaces.gw} ${CHROMIUM} "$@"\n`);
    await chmod(wrapper, 0o755);
    browser = await puppeteer.launch({ executablePath: wrapper, headless: true, pipe: true, args: CHROMIUM_ARGS, timeout: 60_000 });
    cleanup.add(() => browser.close());
    page = await browser.newPage();
    await page.setViewport({ width: 1360, height: 1000 });
  });
  after(() => cleanup.run());

  test('the page asks for the token, refuses a wrong one, and shows the gateway with the right one', async () => {
    await page.goto(`http://127.0.0.1:${PORT}/`, { waitUntil: 'load' });
    await page.waitForSelector('#login', { visible: true, timeout: 10_000 });
    assert.equal(await page.$('#main').then((e) => e?.isVisible()), false, 'nothing shown without the token');
    await page.type('#token', 'not-the-token');
    await page.click('#login button[type=submit]');
    await page.waitForFunction(() => document.getElementById('login-error')?.textContent !== '', { timeout: 10_000 });
    assert.match(await page.$eval('#login-error', (e) => e.textContent ?? ''), /not the admin token/);
    await page.$eval('#token', (e) => { (e as HTMLInputElement).value = ''; });
    await page.type('#token', token);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#main', { visible: true, timeout: 10_000 });
    assert.equal(await page.$('#login').then((e) => e?.isVisible()), false, 'the sign-in form is gone');
    const facts = await page.$eval('#nat', (e) => e.textContent ?? '');
    assert.match(facts, /Mappingendpoint-independent/);
    assert.match(await page.$eval('#status', (e) => e.textContent ?? ''), new RegExp(`WAN${lab.wanAddress.replace(/\./g, '\\.')}/24`));
    // The DHCP leases of both LAN hosts, with the host names their udhcpc sent.
    const leases = await waitRows('leases', 'both leases', (c) => c.length >= 2);
    assert.deepEqual(leases.map((r) => r[1]).sort(), [`${h1Addr} (h1)`, `${h2Addr} (h2)`].sort());
    // The token stays in this tab: a reload needs no sign-in.
    await page.reload({ waitUntil: 'load' });
    await page.waitForSelector('#main', { visible: true, timeout: 10_000 });
  });

  test('flows show live while iperf3 runs, and filter by protocol, address, port and state', async () => {
    const server = background(lab.namespaces.inet, 'iperf3', ['-s', '-B', lab.servers[0]!]);
    cleanup.add(() => server.stop());
    await server.listening('tcp', 5201);
    const client = background(lab.namespaces.h1, 'iperf3', ['-c', lab.servers[0]!, '-t', '40', '-P', '2']);
    cleanup.add(() => client.stop());
    const ping = background(lab.namespaces.h2, 'ping', ['-c', '80', '-i', '0.5', lab.servers[1]!]);
    cleanup.add(() => ping.stop());
    try {
      const iperfRemote = `${lab.servers[0]}:5201`;
      const live = await waitRows('flows', 'iperf3 flows established', (c) => c.filter((r) => r[3] === '198.51.100.10:5201' && r[4] === 'established').length >= 2);
      assert.ok(live.some((r) => r[0] === 'tcp' && r[1]!.startsWith(`${h1Addr}:`) && r[2]!.startsWith(`${lab.wanAddress}:`) && r[3] === iperfRemote));
      // The charts move: WAN bytes out, read between polls, drawn over at least 8 polls (16 s) of the run.
      await page.waitForFunction(() => Array.from(document.querySelectorAll('.chart')).some((c) => /WAN sent/.test(c.textContent ?? '')
        && /[1-9][\d.]* [kMG]B\/s/.test(c.querySelector('.value')?.textContent ?? '')
        && (c.querySelector('polyline')?.getAttribute('points') ?? '').split(' ').length >= 8), { timeout: 30_000, polling: 500 });
      await shot('flows-live');

      await filterFlows({ proto: 'icmp' });
      const icmp = await waitRows('flows', 'only ICMP', (c) => c.length >= 1 && c.every((r) => r[0] === 'icmp'));
      assert.ok(icmp.every((r) => r[1]!.startsWith(`${h2Addr}:`) && r[3]!.startsWith(`${lab.servers[1]}:`)), JSON.stringify(icmp));

      await filterFlows({ addr: h1Addr });
      const fromH1 = await waitRows('flows', 'only h1', (c) => c.length >= 2 && c.every((r) => r[1]!.startsWith(`${h1Addr}:`)));
      assert.ok(fromH1.every((r) => r[0] === 'tcp'), 'h1 runs only iperf3');

      await filterFlows({ proto: 'tcp', port: '5201', state: 'established' });
      const iperf = await waitRows('flows', 'iperf3 data streams', (c) => c.length >= 2 && c.every((r) => r[3] === iperfRemote && r[4] === 'established'));
      assert.match(await page.$eval('#flows-count', (e) => e.textContent ?? ''), new RegExp(`^\\(1–${iperf.length} of ${iperf.length}\\)$`));
      await shot('flows-filtered');

      await filterFlows({ port: '1' });
      await page.waitForFunction(() => document.getElementById('flows-count')?.textContent === '(none match)', { timeout: 10_000 });
      await filterFlows({ addr: '999.1.1.1' });
      await page.waitForFunction(() => /addr: must be/.test(document.getElementById('flows-error')?.textContent ?? ''), { timeout: 10_000 });
      await filterFlows({});
    } finally {
      await client.stop();
      await ping.stop();
      await server.stop();
    }
  });

  test('a mapping added on the page forwards, is listed by upnpc; disabled it stops; deleted it is gone', async () => {
    const form = '#mapping-form';
    await page.select(`${form} select[name=protocol]`, 'TCP');
    for (const [name, value] of [['externalPort', '18080'], ['internalClient', h1Addr], ['internalPort', '8080'], ['description', 'web page test']]) {
      await page.$eval(`${form} input[name=${name}]`, (e, v) => { (e as HTMLInputElement).value = v; }, value);
    }
    await page.click('#mapping-submit');
    const made = (await waitRows('mappings', 'the new mapping', (c) => c.some((r) => r[1] === '18080'))).find((r) => r[1] === '18080')!;
    assert.deepEqual(made.slice(0, 8), ['TCP', '18080', '*', h1Addr, '8080', 'web page test', 'static', 'admin']);
    // Through the MappingService like any client's: UPnP lists it, the internet reaches h1.
    const listed = parseUpnpcList(await must(lab.namespaces.h1, 'upnpc', ['-i', '-l'], 30_000));
    assert.ok(listed.some((m) => m.externalPort === 18080 && m.internalClient === h1Addr && m.internalPort === 8080), JSON.stringify(listed));
    await probeMapping(lab, cleanup, 'tcp', lab.wanAddress, 18080, 8080, { expect: true });
    await shot('mapping-added');

    // A wrong port is refused with the field named, and nothing is added.
    await page.$eval(`${form} input[name=externalPort]`, (e) => { (e as HTMLInputElement).value = '70000'; });
    await page.$eval(`${form} input[name=internalClient]`, (e, v) => { (e as HTMLInputElement).value = v; }, h1Addr);
    await page.$eval(`${form} input[name=internalPort]`, (e) => { (e as HTMLInputElement).value = '80'; });
    await page.click('#mapping-submit');
    await page.waitForFunction(() => /externalPort: must be a port/.test(document.getElementById('mapping-error')?.textContent ?? ''), { timeout: 10_000 });
    assert.equal(((await admin(lab.adminSocket, 'GET', '/mappings')).json as unknown[]).length, 1);

    // Edited on the page: the form takes the mapping, Save changes its description only.
    await clickInRow('TCP/18080', 'button.edit');
    assert.equal(await page.$eval(`${form} input[name=externalPort]`, (e) => (e as HTMLInputElement).disabled), true);
    await page.$eval(`${form} input[name=description]`, (e) => { (e as HTMLInputElement).value = 'edited on the page'; });
    await page.click('#mapping-submit');
    const edited = (await waitRows('mappings', 'the new description', (c) => c.some((r) => r[1] === '18080' && r[5] === 'edited on the page')))
      .find((r) => r[1] === '18080')!;
    assert.deepEqual(edited.slice(0, 8), ['TCP', '18080', '*', h1Addr, '8080', 'edited on the page', 'static', 'admin']);

    await clickInRow('TCP/18080', 'input.toggle');
    await page.waitForSelector(`${mappingRow('TCP/18080')}.disabled`, { timeout: 10_000 });
    const off = (await admin(lab.adminSocket, 'GET', '/mappings')).json as { externalPort: number; enabled: boolean }[];
    assert.equal(off.find((m) => m.externalPort === 18080)?.enabled, false);
    await probeMapping(lab, cleanup, 'tcp', lab.wanAddress, 18080, 8080, { expect: false });
    await shot('mapping-disabled');

    // Enabled again it forwards again; then deleted, it is gone everywhere.
    await clickInRow('TCP/18080', 'input.toggle');
    await until('enabled again', async () => ((await admin(lab.adminSocket, 'GET', '/mappings')).json as { externalPort: number; enabled: boolean }[])
      .some((m) => m.externalPort === 18080 && m.enabled), 10_000);
    await probeMapping(lab, cleanup, 'tcp', lab.wanAddress, 18080, 8080, { expect: true });
    await clickInRow('TCP/18080', 'button.delete');
    await page.waitForFunction((sel: string) => document.querySelector(sel) === null, { timeout: 10_000 }, mappingRow('TCP/18080'));
    assert.ok(!((await admin(lab.adminSocket, 'GET', '/mappings')).json as { externalPort: number }[]).some((m) => m.externalPort === 18080));
    await probeMapping(lab, cleanup, 'tcp', lab.wanAddress, 18080, 8080, { expect: false });
  });

  test('captures go on and off from the page', async () => {
    await page.waitForFunction(() => document.getElementById('capture-toggle')?.textContent === 'Start capture', { timeout: 10_000 });
    await page.click('#capture-toggle');
    await page.waitForFunction(() => /^Capturing to /.test(document.getElementById('capture-state')?.textContent ?? ''), { timeout: 10_000 });
    await must(lab.namespaces.h1, 'ping', ['-c', '2', '-W', '2', lab.servers[0]!]);
    await page.click('#capture-toggle');
    await page.waitForFunction(() => document.getElementById('capture-state')?.textContent === 'Not capturing.', { timeout: 10_000 });
    const files = await page.$$eval('#capture-files li', (lis) => lis.map((li) => li.textContent ?? ''));
    assert.equal(files.length, 2, JSON.stringify(files));
    const wan = files.find((f) => f.startsWith('wan: '))!;
    assert.ok(Number(/\((\d+) frames\)/.exec(wan)?.[1]) >= 4, `the pings were captured on the WAN: ${wan}`);
    const path = /^wan: (\S+\.pcap)/.exec(wan)![1]!;
    const read = await must(null, 'tshark', ['-r', path, '-Y', 'icmp', '-T', 'fields', '-e', 'ip.dst']);
    assert.ok(read.split('\n').filter((l) => l.trim() === lab.servers[0]).length >= 2, `tshark reads the pings: ${read}`);
    await page.setViewport({ width: 1360, height: 1000 });
    await shot('page');
  });
});
