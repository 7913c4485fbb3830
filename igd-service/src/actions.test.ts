/**
 * The dispatcher and the handlers without HTTP: out arguments in declared order and
 * formatted, the always-on connection actions, counters wrapped to ui4, Layer3Forwarding.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dispatchAction, dispatchSoapRequest, wrapUi4 } from './actions.js';
import type { ActionDispatchResult } from './actions.js';
import type { IgdServiceKey } from './declaration.js';
import { igdDefaultConnectionService, igdDeviceUuids } from './description.js';
import { Igd } from './igd.js';
import { MemoryPortMappingBackend, ManualClock, MemoryMappingStore } from './testing/index.js';
import { MappingService } from './mapping/mapping-service.js';

const ROOT_UUID = '0b0a0c0d-1111-4222-8333-444455556666';

async function setup() {
  const clock = new ManualClock();
  const backend = new MemoryPortMappingBackend();
  const igd = new Igd({ rootUuid: ROOT_UUID, link: { upstreamBitsPerSecond: 1e9, downstreamBitsPerSecond: 5e9 } },
    { mappings: new MappingService({}, { store: new MemoryMappingStore(), backend, now: clock.now }) });
  await igd.start();
  const call = async (service: IgdServiceKey, action: string, args: Array<[string, string]> = []) =>
    dispatchAction(service, action, new Map(args), [], { igd, clientAddress: '192.168.1.10' });
  return { igd, backend, clock, call };
}

function result(r: ActionDispatchResult): unknown {
  return r.ok ? r.outArgs : r.reason;
}

test('connection actions of an always-on IP_Routed gateway', async () => {
  const { call, backend } = await setup();
  assert.deepEqual(result(await call('wanIpConnection', 'GetConnectionTypeInfo')),
    [['NewConnectionType', 'IP_Routed'], ['NewPossibleConnectionTypes', 'IP_Routed']]);
  assert.deepEqual(result(await call('wanIpConnection', 'SetConnectionType', [['NewConnectionType', 'IP_Routed']])), []);
  assert.equal(result(await call('wanIpConnection', 'SetConnectionType', [['NewConnectionType', 'IP_Bridged']])), 'not-authorized');
  assert.equal(result(await call('wanIpConnection', 'SetConnectionType', [['NewConnectionType', 'PPPoE']])), 'invalid-args');
  assert.equal(result(await call('wanIpConnection', 'SetConnectionType')), 'invalid-args');
  assert.deepEqual(result(await call('wanIpConnection', 'RequestConnection')), []);
  assert.equal(result(await call('wanIpConnection', 'ForceTermination')), 'not-authorized');
  assert.deepEqual(result(await call('wanIpConnection', 'GetNATRSIPStatus')), [['NewRSIPAvailable', '0'], ['NewNATEnabled', '1']]);
  backend.setExternalAddress('');
  assert.equal(result(await call('wanIpConnection', 'RequestConnection')), 'action-failed');
});

test('GetStatusInfo: Connected with uptime, Disconnected with the reason', async () => {
  const { call, backend, clock } = await setup();
  clock.advance(90_000);
  assert.deepEqual(result(await call('wanIpConnection', 'GetStatusInfo')),
    [['NewConnectionStatus', 'Connected'], ['NewLastConnectionError', 'ERROR_NONE'], ['NewUptime', '90']]);
  backend.setExternalAddress('');
  assert.deepEqual(result(await call('wanIpConnection', 'GetStatusInfo')),
    [['NewConnectionStatus', 'Disconnected'], ['NewLastConnectionError', 'ERROR_IP_CONFIGURATION'], ['NewUptime', '0']]);
  backend.setLinkUp(false);
  assert.deepEqual(result(await call('wanIpConnection', 'GetStatusInfo')),
    [['NewConnectionStatus', 'Disconnected'], ['NewLastConnectionError', 'ERROR_NO_CARRIER'], ['NewUptime', '0']]);
  assert.deepEqual(result(await call('wanIpConnection', 'GetExternalIPAddress')), [['NewExternalIPAddress', '']]);
});

test('WANCommonInterfaceConfig: link properties and real counters wrapped modulo 2^32', async () => {
  const { call, backend } = await setup();
  assert.deepEqual(result(await call('wanCommonInterfaceConfig', 'GetCommonLinkProperties')), [
    ['NewWANAccessType', 'Ethernet'], ['NewLayer1UpstreamMaxBitRate', '1000000000'],
    ['NewLayer1DownstreamMaxBitRate', '705032704'], ['NewPhysicalLinkStatus', 'Up'],
  ]);
  backend.setCounters({ bytesSent: 2 ** 32 + 5, bytesReceived: 123, packetsSent: 2 ** 33 - 1, packetsReceived: 0 });
  assert.deepEqual(result(await call('wanCommonInterfaceConfig', 'GetTotalBytesSent')), [['NewTotalBytesSent', '5']]);
  assert.deepEqual(result(await call('wanCommonInterfaceConfig', 'GetTotalBytesReceived')), [['NewTotalBytesReceived', '123']]);
  assert.deepEqual(result(await call('wanCommonInterfaceConfig', 'GetTotalPacketsSent')), [['NewTotalPacketsSent', '4294967295']]);
  assert.deepEqual(result(await call('wanCommonInterfaceConfig', 'GetTotalPacketsReceived')), [['NewTotalPacketsReceived', '0']]);
  backend.setLinkUp(false);
  const down = result(await call('wanCommonInterfaceConfig', 'GetCommonLinkProperties')) as Array<[string, string]>;
  assert.deepEqual(down[3], ['NewPhysicalLinkStatus', 'Down']);
  assert.equal(wrapUi4(-5), 0);
  assert.equal(wrapUi4(Number.NaN), 0);
});

test('Layer3Forwarding: get ours; set ours is a no-op; another device 720; another service 721', async () => {
  const { call } = await setup();
  const ours = igdDefaultConnectionService(ROOT_UUID);
  assert.deepEqual(result(await call('layer3Forwarding', 'GetDefaultConnectionService')), [['NewDefaultConnectionService', ours]]);
  assert.deepEqual(result(await call('layer3Forwarding', 'SetDefaultConnectionService', [['NewDefaultConnectionService', ours]])), []);
  assert.equal(result(await call('layer3Forwarding', 'SetDefaultConnectionService',
    [['NewDefaultConnectionService', 'uuid:11111111-2222-4333-8444-555555555555,urn:upnp-org:serviceId:WANIPConn1']])), 'invalid-device-uuid');
  assert.equal(result(await call('layer3Forwarding', 'SetDefaultConnectionService',
    [['NewDefaultConnectionService', `uuid:${igdDeviceUuids(ROOT_UUID).wanConnectionDevice},urn:upnp-org:serviceId:WANPPPConn1`]])), 'invalid-service-id');
});

test('mapping actions through the dispatcher: formatted entries, remaining lease, 713/714', async () => {
  const { call, clock } = await setup();
  const add = (port: string, lease: string, enabled = '1') => call('wanIpConnection', 'AddPortMapping', [
    ['NewRemoteHost', ''], ['NewExternalPort', port], ['NewProtocol', 'udp'], ['NewInternalPort', '9000'],
    ['NewInternalClient', '192.168.1.10'], ['NewEnabled', enabled], ['NewPortMappingDescription', 'game'], ['NewLeaseDuration', lease],
  ]);
  assert.deepEqual(result(await add('9000', '3600', 'false')), []);
  clock.advance(600_000);
  assert.deepEqual(result(await call('wanIpConnection', 'GetGenericPortMappingEntry', [['NewPortMappingIndex', '0']])), [
    ['NewRemoteHost', ''], ['NewExternalPort', '9000'], ['NewProtocol', 'UDP'], ['NewInternalPort', '9000'],
    ['NewInternalClient', '192.168.1.10'], ['NewEnabled', '0'], ['NewPortMappingDescription', 'game'], ['NewLeaseDuration', '3000'],
  ]);
  assert.equal(result(await call('wanIpConnection', 'GetGenericPortMappingEntry', [['NewPortMappingIndex', '1']])), 'array-index-invalid');
  const key: Array<[string, string]> = [['NewRemoteHost', ''], ['NewExternalPort', '9000'], ['NewProtocol', 'UDP']];
  assert.deepEqual(result(await call('wanIpConnection', 'GetSpecificPortMappingEntry', key)), [
    ['NewInternalPort', '9000'], ['NewInternalClient', '192.168.1.10'], ['NewEnabled', '0'],
    ['NewPortMappingDescription', 'game'], ['NewLeaseDuration', '3000'],
  ]);
  assert.deepEqual(result(await call('wanIpConnection', 'DeletePortMapping', key)), []);
  assert.equal(result(await call('wanIpConnection', 'DeletePortMapping', key)), 'no-such-entry');
  assert.equal(result(await call('wanIpConnection', 'GetSpecificPortMappingEntry', key)), 'no-such-entry');
});

test('a request for another service type at this control URL, or an unknown action, is invalid-action', async () => {
  const { igd } = await setup();
  const context = { igd, clientAddress: '192.168.1.10' };
  const wrong = await dispatchSoapRequest('wanIpConnection', {
    serviceType: 'urn:schemas-upnp-org:service:Layer3Forwarding:1', actionName: 'GetDefaultConnectionService', args: new Map(), badArgs: [],
  }, context);
  assert.equal(result(wrong), 'invalid-action');
  const unknown = await dispatchSoapRequest('wanIpConnection', {
    serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:1', actionName: 'GetListOfPortMappings', args: new Map(), badArgs: [],
  }, context);
  assert.equal(result(unknown), 'invalid-action');
  const proto = await dispatchSoapRequest('wanIpConnection', {
    serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:1', actionName: 'constructor', args: new Map(), badArgs: [],
  }, context);
  assert.equal(result(proto), 'invalid-action');
});
