/**
 * The root device description, rootDesc.xml (UDA 1.0 §2.1; IGD:1 §2): InternetGatewayDevice:1
 * with Layer3Forwarding:1, holding WANDevice:1 with WANCommonInterfaceConfig:1, holding
 * WANConnectionDevice:1 with WANIPConnection:1 (U2). In version 2 the three devices and
 * WANIPConnection are `:2` and specVersion is 1.1 (IGD:2 builds on UDA 1.1); the tree, the
 * UDNs and the URLs stay the same, so one gateway can show either. Each device has its own UDN, derived
 * from the one stable root uuid (device-identity.ts). Service URLs are the declaration's
 * paths, absolute paths relative to the description's own location: no URLBase unless asked
 * (it is deprecated in UDA 1.1). Built with xmlbuilder2, escaped by construction.
 * Must not: do I/O, or name a service the declaration does not hold.
 */
import { create } from 'xmlbuilder2';
import { IGD_SERVICES, UPNP_DEVICE_NAMESPACE, serviceDeclaration } from './declaration.js';
import type { IgdServiceKey, IgdVersion } from './declaration.js';
import { deriveDeviceUuid } from './device-identity.js';
import type { DeviceInfo } from './device-info.js';

/** The path the description is served at. */
export const ROOT_DESCRIPTION_PATH = '/rootDesc.xml';

/** The device types of each version. */
export const IGD_DEVICE_TYPES_BY_VERSION = {
  1: {
    internetGatewayDevice: 'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
    wanDevice: 'urn:schemas-upnp-org:device:WANDevice:1',
    wanConnectionDevice: 'urn:schemas-upnp-org:device:WANConnectionDevice:1',
  },
  2: {
    internetGatewayDevice: 'urn:schemas-upnp-org:device:InternetGatewayDevice:2',
    wanDevice: 'urn:schemas-upnp-org:device:WANDevice:2',
    wanConnectionDevice: 'urn:schemas-upnp-org:device:WANConnectionDevice:2',
  },
} as const satisfies Record<IgdVersion, Record<string, string>>;

/** The IGD:1 device types (the default version). */
export const IGD_DEVICE_TYPE = IGD_DEVICE_TYPES_BY_VERSION[1];

/** specVersion minor of the description and SCPDs: UDA 1.0 for IGD:1, 1.1 for IGD:2. */
export const UDA_MINOR_VERSION = { 1: '0', 2: '1' } as const satisfies Record<IgdVersion, string>;

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

/** Every device of the tree, root first, with the service types it holds in `version`: what SSDP announces. */
export function igdAdvertisedDevices(rootUuid: string, version: IgdVersion = 1): IgdAdvertisedDevice[] {
  const uuids = igdDeviceUuids(rootUuid);
  const out: IgdAdvertisedDevice[] = [];
  const walk = (node: DeviceNode): void => {
    out.push({
      uuid: uuids[node.role],
      deviceType: IGD_DEVICE_TYPES_BY_VERSION[version][node.role],
      serviceTypes: node.services.map((s) => serviceDeclaration(s, version).serviceType),
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

/**
 * The version to describe to a client: IGD:1 to one whose User-Agent names Microsoft (any
 * case, e.g. `Microsoft-Windows/10.0 UPnP/1.0`) or is FDSSDP (Windows' discovery service),
 * whatever is served. Windows and the Xbox read an IGD:2 description, find no `:1` types and
 * give up (miniupnp#277, #539, openwrt/routing#310); miniupnpd answers them the same way.
 */
export function describedVersion(served: IgdVersion, userAgent: string | undefined): IgdVersion {
  if (served === 1 || userAgent === undefined) return served;
  return /microsoft/i.test(userAgent) || userAgent.includes('FDSSDP') ? 1 : served;
}

export interface RootDescriptionOptions {
  /** Emitted as URLBase when given (UDA 1.0 clients that ignore the description's location). */
  readonly urlBase?: string;
  /** The IGD version described. Default 1. */
  readonly version?: IgdVersion;
}

function optional(parent: XMLBuilder, name: string, value: string): void {
  if (value !== '') parent.ele(name).txt(value);
}

/** rootDesc.xml for the root uuid and product info. Precondition: rootUuid is a uuid. */
export function buildRootDescription(rootUuid: string, info: DeviceInfo, options: RootDescriptionOptions = {}): string {
  const uuids = igdDeviceUuids(rootUuid);
  const version = options.version ?? 1;
  const root = create({ version: '1.0' }).ele(UPNP_DEVICE_NAMESPACE, 'root');
  root.ele('specVersion').ele('major').txt('1').up().ele('minor').txt(UDA_MINOR_VERSION[version]);
  if (options.urlBase !== undefined) root.ele('URLBase').txt(options.urlBase);

  const writeDevice = (parent: XMLBuilder, node: DeviceNode): void => {
    const device = parent.ele('device');
    device.ele('deviceType').txt(IGD_DEVICE_TYPES_BY_VERSION[version][node.role]);
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
      const s = serviceDeclaration(key, version);
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
