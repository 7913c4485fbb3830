/**
 * WANIPConnection:2 through the dispatcher with a manual clock: the lease rule,
 * AddAnyPortMapping's choice of port, DeletePortMappingRange and GetListOfPortMappings
 * (selection, NewManage, NewNumberOfPorts, 730 / 733), SystemUpdateID, and an IGD:1
 * request to an IGD:2 gateway answered as IGD:1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dispatchAction, dispatchSoapRequest } from './actions.js';
import type { ActionDispatchResult } from './actions.js';
import type { IgdVersion } from './declaration.js';
import { Igd } from './igd.js';
import type { IgdStateChange } from './igd.js';
import type { AccessPolicy } from './mapping-rules.js';
import { MemoryPortMappingBackend, ManualClock, MemoryMappingStore, parseXml } from './testing/index.js';
import { MappingService } from './mapping/mapping-service.js';

const ROOT_UUID = '0b0a0c0d-1111-4222-8333-444455556666';
const ME = '192.168.1.10';
const OTHER = '192.168.1.11';

async function setup(options: { policy?: AccessPolicy; version?: IgdVersion } = {}) {
  const clock = new ManualClock();
  const backend = new MemoryPortMappingBackend();
  const store = new MemoryMappingStore();
  const igd = new Igd({ rootUuid: ROOT_UUID, version: options.version ?? 2 },
    { mappings: new MappingService({ ...(options.policy ? { policy: options.policy } : {}) }, { store, backend, now: clock.now }) });
  await igd.start();
  const changes: IgdStateChange[] = [];
  igd.onStateChange((c) => changes.push(c));
  const call = (action: string, args: ReadonlyArray<readonly [string, string]>, from = ME, version: IgdVersion = 2) =>
    dispatchAction('wanIpConnection', action, new Map(args), [], { igd, clientAddress: from, version });
  return { igd, clock, backend, store, changes, call };
}

function out(r: ActionDispatchResult): Record<string, string> | string {
  return r.ok ? Object.fromEntries(r.outArgs.map(([n, v]) => [n, v])) : r.reason;
}

function add(o: { port?: number; protocol?: string; client?: string; internalPort?: number; lease?: string; description?: string } = {}) {
  return [
    ['NewRemoteHost', ''], ['NewExternalPort', String(o.port ?? 8080)], ['NewProtocol', o.protocol ?? 'TCP'],
    ['NewInternalPort', String(o.internalPort ?? 80)], ['NewInternalClient', o.client ?? ME], ['NewEnabled', '1'],
    ['NewPortMappingDescription', o.description ?? 'web'], ['NewLeaseDuration', o.lease ?? '3600'],
  ] as const;
}

const range = (start: number, end: number, manage: boolean, protocol = 'TCP') =>
  [['NewStartPort', String(start)], ['NewEndPort', String(end)], ['NewProtocol', protocol], ['NewManage', manage ? '1' : '0']] as const;

/** GetListOfPortMappings' entries, read with a real XML parser. */
function entries(r: ActionDispatchResult): Array<Record<string, string>> {
  assert.ok(r.ok, r.ok ? '' : r.reason);
  const [name, listing, form] = r.outArgs[0]!;
  assert.equal(name, 'NewPortListing');
  assert.equal(form, 'cdata');
  const list = parseXml(listing);
  assert.equal(list.name, 'PortMappingList');
  assert.equal(list.uri, 'urn:schemas-upnp-org:gw:WANIPConnection');
  return list.children.map((e) => Object.fromEntries(e.children.map((c) => [c.name, c.text])));
}

test('IGD:2 lease rule: 0 is the maximum (604800 s), more is clamped to it; IGD:1 keeps 0 static', async () => {
  const { igd, call } = await setup();
  assert.deepEqual(out(await call('AddPortMapping', add({ port: 1000, lease: '0' }))), {});
  assert.deepEqual(out(await call('AddPortMapping', add({ port: 1001, lease: '4294967295' }))), {});
  assert.deepEqual(out(await call('AddPortMapping', add({ port: 1002, lease: '0' }), ME, 1)), {});
  const leases = igd.listMappings().map((m) => [m.externalPort, m.leaseSeconds]);
  assert.deepEqual(leases, [[1000, 604800], [1001, 604800], [1002, 0]]);
  const got = await call('GetSpecificPortMappingEntry', [['NewRemoteHost', ''], ['NewExternalPort', '1000'], ['NewProtocol', 'TCP']]);
  assert.equal((out(got) as Record<string, string>).NewLeaseDuration, '604800');
});

test('AddAnyPortMapping: the asked port when free or ours, else the nearest free one', async () => {
  const { igd, call } = await setup();
  assert.deepEqual(out(await call('AddAnyPortMapping', add({ port: 8080 }))), { NewReservedPort: '8080' });
  // The same client again: an update of its mapping, same port.
  assert.deepEqual(out(await call('AddAnyPortMapping', add({ port: 8080, description: 'renamed' }))), { NewReservedPort: '8080' });
  assert.equal(igd.listMappings().length, 1);
  // Another client asking for 8080 gets 8081, then 8079; UDP 8080 is still free.
  assert.deepEqual(out(await call('AddAnyPortMapping', add({ port: 8080, client: OTHER }), OTHER)), { NewReservedPort: '8081' });
  assert.deepEqual(out(await call('AddAnyPortMapping', add({ port: 8080, client: '192.168.1.12' }), OTHER)), { NewReservedPort: '8079' });
  assert.deepEqual(out(await call('AddAnyPortMapping', add({ port: 8080, protocol: 'UDP', client: OTHER }), OTHER)), { NewReservedPort: '8080' });
  const mine = igd.listMappings().find((m) => m.externalPort === 8081)!;
  assert.deepEqual([mine.internalClient, mine.internalPort, mine.leaseSeconds], [OTHER, 80, 3600]);
});

test('AddAnyPortMapping: a port another mechanism holds is skipped; 716 for the wildcard (AddPortMapping too); policy refusals pass through', async () => {
  const { backend, call } = await setup({ policy: { maxMappings: 2 } });
  backend.reservePort('UDP', 5351);
  assert.deepEqual(out(await call('AddAnyPortMapping', add({ port: 5351, protocol: 'UDP' }))), { NewReservedPort: '5352' });
  assert.equal(out(await call('AddPortMapping', add({ port: 5351, protocol: 'UDP' }))), 'conflict-with-other-mechanism');
  assert.equal(out(await call('AddAnyPortMapping', add({ port: 0 }))), 'external-port-wildcard-not-permitted');
  assert.equal(out(await call('AddPortMapping', add({ port: 0 }))), 'external-port-wildcard-not-permitted');
  assert.deepEqual(out(await call('AddAnyPortMapping', add({ port: 9000 }))), { NewReservedPort: '9000' });
  assert.equal(out(await call('AddAnyPortMapping', add({ port: 9001 }))), 'no-port-maps-available');
});

test('DeletePortMappingRange: 733 start > end, 730 none; NewManage 0 deletes only the caller\'s, 1 every client\'s', async () => {
  const { igd, call } = await setup();
  for (const port of [2000, 2001, 2002]) await call('AddPortMapping', add({ port }));
  await call('AddPortMapping', add({ port: 2003, client: OTHER }), OTHER);
  await call('AddPortMapping', add({ port: 2001, protocol: 'UDP' }));
  assert.equal(out(await call('DeletePortMappingRange', range(2002, 2001, true))), 'inconsistent-parameters');
  assert.equal(out(await call('DeletePortMappingRange', range(3000, 4000, true))), 'port-mapping-not-found');
  assert.equal(out(await call('DeletePortMappingRange', range(2003, 2003, false))), 'port-mapping-not-found');
  assert.deepEqual(out(await call('DeletePortMappingRange', range(2001, 2003, false))), {});
  assert.deepEqual(igd.listMappings().map((m) => `${m.protocol}${m.externalPort}`).sort(), ['TCP2000', 'TCP2003', 'UDP2001']);
  assert.deepEqual(out(await call('DeletePortMappingRange', range(0, 65535, true))), {});
  assert.deepEqual(igd.listMappings().map((m) => `${m.protocol}${m.externalPort}`), ['UDP2001']);
});

test('DeletePortMappingRange in secure mode: another client\'s mappings are skipped, 606 when only those matched', async () => {
  const { igd, call } = await setup({ policy: { clientsMapOnlyThemselves: true } });
  await call('AddPortMapping', add({ port: 2000 }));
  await call('AddPortMapping', add({ port: 2001, client: OTHER }), OTHER);
  assert.equal(out(await call('DeletePortMappingRange', range(2001, 2001, true))), 'not-authorized');
  assert.deepEqual(out(await call('DeletePortMappingRange', range(2000, 2001, true))), {});
  assert.deepEqual(igd.listMappings().map((m) => m.externalPort), [2001]);
});

test('GetListOfPortMappings: the selection in port order with remaining leases; NewNumberOfPorts; 730 and 733', async () => {
  const { clock, call } = await setup();
  await call('AddPortMapping', add({ port: 3002, description: 'b & <c>' }));
  await call('AddPortMapping', add({ port: 3000, lease: '100' }));
  await call('AddPortMapping', add({ port: 3001, client: OTHER }), OTHER);
  await call('AddPortMapping', add({ port: 3001, protocol: 'UDP' }));
  clock.advance(30_000);
  const all = entries(await call('GetListOfPortMappings', [...range(0, 65535, true), ['NewNumberOfPorts', '0']]));
  assert.deepEqual(all.map((e) => [e.NewExternalPort, e.NewInternalClient, e.NewLeaseTime]),
    [['3000', ME, '70'], ['3001', OTHER, '3570'], ['3002', ME, '3570']]);
  assert.deepEqual(all[2], {
    NewRemoteHost: '', NewExternalPort: '3002', NewProtocol: 'TCP', NewInternalPort: '80', NewInternalClient: ME,
    NewEnabled: '1', NewDescription: 'b & <c>', NewLeaseTime: '3570',
  });
  const mine = entries(await call('GetListOfPortMappings', [...range(0, 65535, false), ['NewNumberOfPorts', '0']]));
  assert.deepEqual(mine.map((e) => e.NewExternalPort), ['3000', '3002']);
  const two = entries(await call('GetListOfPortMappings', [...range(3001, 3002, true), ['NewNumberOfPorts', '1']]));
  assert.deepEqual(two.map((e) => e.NewExternalPort), ['3001']);
  assert.equal(out(await call('GetListOfPortMappings', [...range(4000, 5000, true), ['NewNumberOfPorts', '0']])), 'port-mapping-not-found');
  assert.equal(out(await call('GetListOfPortMappings', [...range(5000, 4000, true), ['NewNumberOfPorts', '0']])), 'inconsistent-parameters');
  // A lease that ran out is not listed.
  clock.advance(71_000);
  const later = entries(await call('GetListOfPortMappings', [...range(0, 65535, true), ['NewNumberOfPorts', '0']]));
  assert.deepEqual(later.map((e) => e.NewExternalPort), ['3001', '3002']);
});

test('GetListOfPortMappings lists 3,000 mappings in one answer', async () => {
  const { call } = await setup({ policy: { maxMappings: 5000 } });
  for (let i = 0; i < 3000; i++) assert.deepEqual(out(await call('AddPortMapping', add({ port: 10_000 + i }))), {});
  const listed = entries(await call('GetListOfPortMappings', [...range(0, 65535, true), ['NewNumberOfPorts', '0']]));
  assert.equal(listed.length, 3000);
  assert.equal(listed[2999]!.NewExternalPort, '12999');
});

test('SystemUpdateID is evented in IGD:2 and changes with every add, replacement, delete and expiry', async () => {
  const { igd, clock, changes, call } = await setup();
  const id = () => igd.eventedState('wanIpConnection').find(([n]) => n === 'SystemUpdateID')?.[1];
  assert.equal(id(), '0');
  await call('AddPortMapping', add({ port: 4000, lease: '10' }));
  assert.equal(id(), '1');
  await call('AddPortMapping', add({ port: 4000, lease: '10', description: 'renamed' }));
  assert.equal(id(), '2');
  await call('DeletePortMapping', [['NewRemoteHost', ''], ['NewExternalPort', '4000'], ['NewProtocol', 'TCP']]);
  assert.equal(id(), '3');
  await call('AddPortMapping', add({ port: 4001, lease: '10' }));
  clock.advance(11_000);
  await igd.expire();
  assert.equal(id(), '5');
  const evented = changes.flatMap((c) => c.variables.filter(([n]) => n === 'SystemUpdateID').map(([, v]) => v));
  assert.deepEqual(evented, ['1', '2', '3', '4', '5']);
});

test('IGD:1 has no SystemUpdateID and no IGD:2 actions', async () => {
  const { igd, call } = await setup({ version: 1 });
  assert.deepEqual(igd.eventedState('wanIpConnection').map(([n]) => n),
    ['PossibleConnectionTypes', 'ConnectionStatus', 'ExternalIPAddress', 'PortMappingNumberOfEntries']);
  assert.equal(out(await call('AddAnyPortMapping', add(), ME, 1)), 'invalid-action');
});

test('an IGD:2 gateway answers a WANIPConnection:1 request as IGD:1, and refuses :2 when it serves 1', async () => {
  const { igd } = await setup();
  const context = { igd, clientAddress: ME };
  const request = (serviceType: string, actionName: string, args: ReadonlyArray<readonly [string, string]>) =>
    ({ serviceType, actionName, args: new Map(args), badArgs: [] });
  const v1 = 'urn:schemas-upnp-org:service:WANIPConnection:1';
  const v2 = 'urn:schemas-upnp-org:service:WANIPConnection:2';
  assert.equal(out(await dispatchSoapRequest('wanIpConnection', request(v1, 'AddAnyPortMapping', add()), context, 2)), 'invalid-action');
  assert.deepEqual(out(await dispatchSoapRequest('wanIpConnection', request(v1, 'AddPortMapping', add({ lease: '0' })), context, 2)), {});
  assert.equal(igd.listMappings()[0]!.leaseSeconds, 0);
  assert.deepEqual(out(await dispatchSoapRequest('wanIpConnection', request(v2, 'AddAnyPortMapping', add({ port: 9 })), context, 2)),
    { NewReservedPort: '9' });
  assert.equal(out(await dispatchSoapRequest('wanIpConnection', request(v2, 'GetExternalIPAddress', []), context, 1)), 'invalid-action');
});
