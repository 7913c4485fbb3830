/**
 * What the root device description says about the product (UDA 1.0 §2.1): friendly name,
 * manufacturer, model, serial number, presentation URL. The options type and its defaults
 * only; description.ts writes them. Must not: do I/O or decide identity (the UDNs come from
 * the root uuid handed to the description builder).
 */

export interface DeviceInfo {
  /** Short name shown to users, < 64 characters. */
  readonly friendlyName: string;
  readonly manufacturer: string;
  /** Optional elements (URLs, description, number, serial) are left out of the document when ''. */
  readonly manufacturerUrl: string;
  readonly modelDescription: string;
  readonly modelName: string;
  readonly modelNumber: string;
  readonly modelUrl: string;
  readonly serialNumber: string;
  /**
   * The presentation page (Windows shows the device icon only when one is given). Relative to
   * the description's URL or absolute. Default '/': the root of the IGD's HTTP server, where
   * the gateway mounts its admin page (or pass the admin page's absolute URL).
   */
  readonly presentationUrl: string;
}

export const DEFAULT_DEVICE_INFO: DeviceInfo = {
  friendlyName: 'OpenIGD',
  manufacturer: 'OpenIGD',
  manufacturerUrl: '',
  modelDescription: 'OpenIGD software NAT gateway',
  modelName: 'OpenIGD',
  modelNumber: '0.1',
  modelUrl: '',
  serialNumber: '00000000',
  presentationUrl: '/',
};

/** The defaults with the given fields replaced. */
export function resolveDeviceInfo(overrides: Partial<DeviceInfo> = {}): DeviceInfo {
  const pick = (key: keyof DeviceInfo): string => overrides[key] ?? DEFAULT_DEVICE_INFO[key];
  return {
    friendlyName: pick('friendlyName'),
    manufacturer: pick('manufacturer'),
    manufacturerUrl: pick('manufacturerUrl'),
    modelDescription: pick('modelDescription'),
    modelName: pick('modelName'),
    modelNumber: pick('modelNumber'),
    modelUrl: pick('modelUrl'),
    serialNumber: pick('serialNumber'),
    presentationUrl: pick('presentationUrl'),
  };
}
