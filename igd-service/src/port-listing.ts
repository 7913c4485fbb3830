/**
 * The `PortMappingList` document that GetListOfPortMappings answers in NewPortListing
 * (WANIPConnection:2's A_ARG_TYPE_PortListing, schema WANIPConnection-v2.xsd): one
 * `p:PortMappingEntry` per mapping with eight elements. The spec's prose speaks of attributes
 * but its sample, its schema's users (miniupnpd, miniupnpc) and this module use elements.
 * No XML declaration (it is optional, and miniupnpc's parser does not expect one).
 * Built as text with every value escaped (escapeXmlText), like soap.ts: the document is
 * one line per element and can run to megabytes, so a builder's cost matters here.
 * Must not: leave a value unescaped, or hold any state.
 */
import { escapeXmlText } from './soap.js';
import type { PortMapping } from './types.js';

/** One row of the listing: a mapping's fields, with `leaseSeconds` as the getters report it (the remainder, 0 if static). */
export type PortListingEntry = Pick<PortMapping, 'remoteHost' | 'externalPort' | 'protocol' | 'internalPort' | 'internalClient' | 'enabled' | 'description'>
  & { readonly leaseSeconds: number };

const LIST_OPEN = '<p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection"'
  + ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
  + ' xsi:schemaLocation="urn:schemas-upnp-org:gw:WANIPConnection http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd">\n';
const LIST_CLOSE = '</p:PortMappingList>\n';

function entryXml(e: PortListingEntry): string {
  return '<p:PortMappingEntry>\n'
    + `<p:NewRemoteHost>${escapeXmlText(e.remoteHost)}</p:NewRemoteHost>\n`
    + `<p:NewExternalPort>${e.externalPort}</p:NewExternalPort>\n`
    + `<p:NewProtocol>${e.protocol}</p:NewProtocol>\n`
    + `<p:NewInternalPort>${e.internalPort}</p:NewInternalPort>\n`
    + `<p:NewInternalClient>${escapeXmlText(e.internalClient)}</p:NewInternalClient>\n`
    + `<p:NewEnabled>${e.enabled ? 1 : 0}</p:NewEnabled>\n`
    + `<p:NewDescription>${escapeXmlText(e.description)}</p:NewDescription>\n`
    + `<p:NewLeaseTime>${e.leaseSeconds}</p:NewLeaseTime>\n`
    + '</p:PortMappingEntry>\n';
}

/** The PortMappingList document of `entries`, in the order given. */
export function buildPortMappingList(entries: readonly PortListingEntry[]): string {
  const parts = [LIST_OPEN];
  for (const e of entries) parts.push(entryXml(e));
  parts.push(LIST_CLOSE);
  return parts.join('');
}
