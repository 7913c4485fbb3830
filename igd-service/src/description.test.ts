/** rootDesc.xml: the IGD:1 device tree, one UDN per device from one root uuid, relative URLs, escaped text. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IGD_SERVICES, UPNP_DEVICE_NAMESPACE } from './declaration.js';
import {
  IGD_DEVICE_TYPE, buildRootDescription, describedVersion, igdAdvertisedDevices, igdDefaultConnectionService, igdDeviceUuids,
} from './description.js';
import { DEFAULT_DEVICE_INFO, resolveDeviceInfo } from './device-info.js';
import { child, childrenNamed, parseXml, path } from './testing/index.js';
import type { XmlNode } from './testing/index.js';

const ROOT_UUID = '0b0a0c0d-1111-4222-8333-444455556666';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function services(device: XmlNode): Array<Record<string, string>> {
  return childrenNamed(child(device, 'serviceList'), 'service').map((s) => Object.fromEntries(s.children.map((c) => [c.name, c.text])));
}

test('InternetGatewayDevice:1 → WANDevice:1 → WANConnectionDevice:1, each with its services and URLs', () => {
  const root = parseXml(buildRootDescription(ROOT_UUID, DEFAULT_DEVICE_INFO));
  assert.equal(root.name, 'root');
  assert.equal(root.uri, UPNP_DEVICE_NAMESPACE);
  assert.deepEqual([path(root, 'specVersion', 'major').text, path(root, 'specVersion', 'minor').text], ['1', '0']);
  assert.equal(childrenNamed(root, 'URLBase').length, 0);

  const igd = child(root, 'device');
  const wan = path(igd, 'deviceList', 'device');
  const wanConn = path(wan, 'deviceList', 'device');
  assert.equal(child(igd, 'deviceType').text, IGD_DEVICE_TYPE.internetGatewayDevice);
  assert.equal(child(wan, 'deviceType').text, IGD_DEVICE_TYPE.wanDevice);
  assert.equal(child(wanConn, 'deviceType').text, IGD_DEVICE_TYPE.wanConnectionDevice);
  assert.equal(childrenNamed(wanConn, 'deviceList').length, 0);

  const expect = (key: keyof typeof IGD_SERVICES): Record<string, string> => {
    const s = IGD_SERVICES[key];
    return { serviceType: s.serviceType, serviceId: s.serviceId, SCPDURL: s.scpdPath, controlURL: s.controlPath, eventSubURL: s.eventSubPath };
  };
  assert.deepEqual(services(igd), [expect('layer3Forwarding')]);
  assert.deepEqual(services(wan), [expect('wanCommonInterfaceConfig')]);
  assert.deepEqual(services(wanConn), [expect('wanIpConnection')]);

  const udns = [igd, wan, wanConn].map((d) => child(d, 'UDN').text);
  assert.equal(udns[0], `uuid:${ROOT_UUID}`);
  assert.equal(new Set(udns).size, 3);
  for (const udn of udns) assert.match(udn.slice(5), UUID);
  for (const d of [igd, wan, wanConn]) {
    for (const name of ['friendlyName', 'manufacturer', 'modelName']) assert.notEqual(child(d, name).text, '');
  }
  assert.equal(child(igd, 'manufacturer').text, 'OpenIGD');
  assert.equal(child(igd, 'presentationURL').text, '/');
});

test('UDNs are stable for a root uuid and differ between root uuids', () => {
  const a = igdDeviceUuids(ROOT_UUID);
  assert.deepEqual(igdDeviceUuids(ROOT_UUID), a);
  const b = igdDeviceUuids('11111111-2222-4333-8444-555555555555');
  assert.notEqual(a.wanDevice, b.wanDevice);
  assert.notEqual(a.wanConnectionDevice, b.wanConnectionDevice);
  assert.equal(buildRootDescription(ROOT_UUID, DEFAULT_DEVICE_INFO), buildRootDescription(ROOT_UUID, DEFAULT_DEVICE_INFO));
});

test('product fields are escaped by construction; empty optional fields are left out; URLBase on request', () => {
  const info = resolveDeviceInfo({
    friendlyName: 'Router <&> "lab"', serialNumber: 'SN-42', manufacturerUrl: '', modelUrl: 'http://example.test/m?a=1&b=2',
    presentationUrl: 'http://192.168.1.1:8080/',
  });
  const xml = buildRootDescription(ROOT_UUID, info, { urlBase: 'http://192.168.1.1:5000/' });
  assert.match(xml, /Router &lt;&amp;&gt; "lab"/);
  const root = parseXml(xml);
  const igd = child(root, 'device');
  assert.equal(child(igd, 'friendlyName').text, 'Router <&> "lab"');
  assert.equal(child(igd, 'serialNumber').text, 'SN-42');
  assert.equal(child(igd, 'modelURL').text, 'http://example.test/m?a=1&b=2');
  assert.equal(childrenNamed(igd, 'manufacturerURL').length, 0);
  assert.equal(child(igd, 'presentationURL').text, 'http://192.168.1.1:8080/');
  assert.equal(child(root, 'URLBase').text, 'http://192.168.1.1:5000/');
});

test('the advertised device list matches the description (what SSDP announces)', () => {
  const uuids = igdDeviceUuids(ROOT_UUID);
  assert.deepEqual(igdAdvertisedDevices(ROOT_UUID), [
    { uuid: ROOT_UUID, deviceType: IGD_DEVICE_TYPE.internetGatewayDevice, serviceTypes: [IGD_SERVICES.layer3Forwarding.serviceType] },
    { uuid: uuids.wanDevice, deviceType: IGD_DEVICE_TYPE.wanDevice, serviceTypes: [IGD_SERVICES.wanCommonInterfaceConfig.serviceType] },
    { uuid: uuids.wanConnectionDevice, deviceType: IGD_DEVICE_TYPE.wanConnectionDevice, serviceTypes: [IGD_SERVICES.wanIpConnection.serviceType] },
  ]);
});

test('DefaultConnectionService names the WANConnectionDevice UDN and the WANIPConn1 service id', () => {
  assert.equal(igdDefaultConnectionService(ROOT_UUID),
    `uuid:${igdDeviceUuids(ROOT_UUID).wanConnectionDevice},urn:upnp-org:serviceId:WANIPConn1`);
});

test('IGD:2 is the same document with the :2 device types, WANIPConnection:2 and specVersion 1.1, byte for byte', () => {
  const v1 = buildRootDescription(ROOT_UUID, DEFAULT_DEVICE_INFO);
  const v2 = buildRootDescription(ROOT_UUID, DEFAULT_DEVICE_INFO, { version: 2 });
  const expected = v1
    .replace('<minor>0</minor>', '<minor>1</minor>')
    .replace('urn:schemas-upnp-org:device:InternetGatewayDevice:1', 'urn:schemas-upnp-org:device:InternetGatewayDevice:2')
    .replace('urn:schemas-upnp-org:device:WANDevice:1', 'urn:schemas-upnp-org:device:WANDevice:2')
    .replace('urn:schemas-upnp-org:device:WANConnectionDevice:1', 'urn:schemas-upnp-org:device:WANConnectionDevice:2')
    .replace('urn:schemas-upnp-org:service:WANIPConnection:1', 'urn:schemas-upnp-org:service:WANIPConnection:2');
  assert.notEqual(v2, v1);
  assert.equal(v2, expected);
  assert.match(v2, /urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1/);
  assert.match(v2, /urn:schemas-upnp-org:service:Layer3Forwarding:1/);
});

test('IGD:2 advertises the :2 types; Microsoft user agents are described IGD:1', () => {
  const [root, wan, conn] = igdAdvertisedDevices(ROOT_UUID, 2);
  assert.equal(root!.deviceType, 'urn:schemas-upnp-org:device:InternetGatewayDevice:2');
  assert.equal(wan!.deviceType, 'urn:schemas-upnp-org:device:WANDevice:2');
  assert.deepEqual(wan!.serviceTypes, ['urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1']);
  assert.equal(conn!.deviceType, 'urn:schemas-upnp-org:device:WANConnectionDevice:2');
  assert.deepEqual(conn!.serviceTypes, ['urn:schemas-upnp-org:service:WANIPConnection:2']);
  assert.equal(describedVersion(2, 'Microsoft-Windows/10.0 UPnP/1.0'), 1);
  assert.equal(describedVersion(2, 'xbox MICROSOFT-whatever'), 1);
  assert.equal(describedVersion(2, 'FDSSDP'), 1);
  assert.equal(describedVersion(2, 'fdssdp'), 2);
  assert.equal(describedVersion(2, 'Linux/6 UPnP/1.1 MiniUPnPc/2.2.4'), 2);
  assert.equal(describedVersion(2, undefined), 2);
  assert.equal(describedVersion(1, 'Linux/6 UPnP/1.1 MiniUPnPc/2.2.4'), 1);
});
