/**
 * The root device description, rootDesc.xml (UDA 1.0 §2.1; IGD:1 §2): InternetGatewayDevice:1
 * with Layer3Forwarding:1, holding WANDevice:1 with WANCommonInterfaceConfig:1, holding
 * WANConnectionDevice:1 with WANIPConnection:1 (U2). Each device has its own UDN, derived
 * from the one stable root uuid (device-identity.ts). Service URLs are the declaration's
 * paths, absolute paths relative to the description's own location: no URLBase unless asked
 * (it is deprecated in UDA 1.1). Built with xmlbuilder2, escaped by construction.
 * Must not: do I/O, or name a service the declaration does not hold.
 */
import { create } from 'xmlbuilder2';
import { IGD_SERVICES, UPNP_DEVICE_NAMESPACE } from './declaration.js';
import type { IgdServiceKey } from './declaration.js';
import { deriveDeviceUuid } from './device-identity.js';
import type { DeviceInfo } from './device-info.js';

/** The path the description is served at. */
export const ROOT_DESCRIPTION_PATH = '/rootDesc.xml';

export const IGD_DEVICE_TYPE = {
  internetGatewayDevice: 'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
  wanDevice: 'urn:schemas-upnp-org:device:WANDevice:1',
  wanConnectionDevice: 'urn:schemas-upnp-org:device:WANConnectionDevice:1',
} as const;

type DeviceRole = keyof typeof IGD_DEVICE_TYPE;
type XMLBuilder = ReturnType<typeof create>;

interface DeviceNode {
  readonly role: DeviceRole;
  /** friendlyName of an embedded device; the root uses DeviceInfo.friendlyName. */
  readonly name: string;
  readonly services: readonly IgdServiceKey[];
  readonly devices: readonly DeviceNode[];
}

/** The device tree: which service lives on which device. */
const DEVICE_TREE: DeviceNode = {
  role: 'internetGatewayDevice',
  name: 'InternetGatewayDevice',
  services: ['layer3Forwarding'],
  devices: [{
    role: 'wanDevice',
    name: 'WANDevice',
    services: ['wanCommonInterfaceConfig'],
    devices: [{ role: 'wanConnectionDevice', name: 'WANConnectionDevice', services: ['wanIpConnection'], devices: [] }],
  }],
};

/** The uuid (without `uuid:`) of each device of the tree. Precondition: rootUuid is a uuid. */
export function igdDeviceUuids(rootUuid: string): Readonly<Record<DeviceRole, string>> {
  return {
    internetGatewayDevice: rootUuid,
    wanDevice: deriveDeviceUuid(rootUuid, 'WANDevice:1'),
    wanConnectionDevice: deriveDeviceUuid(rootUuid, 'WANConnectionDevice:1'),
  };
}

/** One device as SSDP advertises it (structurally ssdp-message.ts's SsdpDevice). */
export interface IgdAdvertisedDevice {
  readonly uuid: string;
  readonly deviceType: string;
  readonly serviceTypes: readonly string[];
}

/** Every device of the tree, root first, with the service types it holds: what SSDP announces. */
export function igdAdvertisedDevices(rootUuid: string): IgdAdvertisedDevice[] {
  const uuids = igdDeviceUuids(rootUuid);
  const out: IgdAdvertisedDevice[] = [];
  const walk = (node: DeviceNode): void => {
    out.push({
      uuid: uuids[node.role],
      deviceType: IGD_DEVICE_TYPE[node.role],
      serviceTypes: node.services.map((s) => IGD_SERVICES[s].serviceType),
    });
    node.devices.forEach(walk);
  };
  walk(DEVICE_TREE);
  return out;
}

/**
 * Layer3Forwarding's DefaultConnectionService: `<UDN of the WANConnectionDevice>,<serviceId of
 * WANIPConnection>` (Layer3Forwarding:1 §2.2.1).
 */
export function igdDefaultConnectionService(rootUuid: string): string {
  return `uuid:${igdDeviceUuids(rootUuid).wanConnectionDevice},${IGD_SERVICES.wanIpConnection.serviceId}`;
}

export interface RootDescriptionOptions {
  /** Emitted as URLBase when given (UDA 1.0 clients that ignore the description's location). */
  readonly urlBase?: string;
}

function optional(parent: XMLBuilder, name: string, value: string): void {
  if (value !== '') parent.ele(name).txt(value);
}

/** rootDesc.xml for the root uuid and product info. Precondition: rootUuid is a uuid. */
export function buildRootDescription(rootUuid: string, info: DeviceInfo, options: RootDescriptionOptions = {}): string {
  const uuids = igdDeviceUuids(rootUuid);
  const root = create({ version: '1.0' }).ele(UPNP_DEVICE_NAMESPACE, 'root');
  root.ele('specVersion').ele('major').txt('1').up().ele('minor').txt('0');
  if (options.urlBase !== undefined) root.ele('URLBase').txt(options.urlBase);

  const writeDevice = (parent: XMLBuilder, node: DeviceNode): void => {
    const device = parent.ele('device');
    device.ele('deviceType').txt(IGD_DEVICE_TYPE[node.role]);
    device.ele('friendlyName').txt(node.role === 'internetGatewayDevice' ? info.friendlyName : node.name);
    device.ele('manufacturer').txt(info.manufacturer);
    optional(device, 'manufacturerURL', info.manufacturerUrl);
    optional(device, 'modelDescription', info.modelDescription);
    device.ele('modelName').txt(info.modelName);
    optional(device, 'modelNumber', info.modelNumber);
    optional(device, 'modelURL', info.modelUrl);
    optional(device, 'serialNumber', info.serialNumber);
    device.ele('UDN').txt(`uuid:${uuids[node.role]}`);
    const serviceList = device.ele('serviceList');
    for (const key of node.services) {
      const s = IGD_SERVICES[key];
      serviceList.ele('service')
        .ele('serviceType').txt(s.serviceType).up()
        .ele('serviceId').txt(s.serviceId).up()
        .ele('SCPDURL').txt(s.scpdPath).up()
        .ele('controlURL').txt(s.controlPath).up()
        .ele('eventSubURL').txt(s.eventSubPath);
    }
    if (node.devices.length > 0) {
      const deviceList = device.ele('deviceList');
      for (const child of node.devices) writeDevice(deviceList, child);
    }
    if (node.role === 'internetGatewayDevice') optional(device, 'presentationURL', info.presentationUrl);
  };
  writeDevice(root, DEVICE_TREE);
  return root.end({ prettyPrint: true });
}
