/** The PortMappingList document, byte for byte, and its escaping. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPortMappingList } from './port-listing.js';
import { buildSoapResponse, cdataSection } from './soap.js';
import { parseXml } from './testing/index.js';

test('a two-entry listing, byte for byte (WANIPConnection:2 sample layout, escaped values)', () => {
  const xml = buildPortMappingList([
    { remoteHost: '202.233.2.1', externalPort: 2345, protocol: 'TCP', internalPort: 2345, internalClient: '192.168.1.137',
      enabled: true, description: 'dooom', leaseSeconds: 345 },
    { remoteHost: '', externalPort: 8080, protocol: 'UDP', internalPort: 80, internalClient: '192.168.1.10',
      enabled: false, description: 'Tom & <Jerry> ]]>', leaseSeconds: 0 },
  ]);
  assert.equal(xml, '<p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    + ' xsi:schemaLocation="urn:schemas-upnp-org:gw:WANIPConnection http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd">\n'
    + '<p:PortMappingEntry>\n<p:NewRemoteHost>202.233.2.1</p:NewRemoteHost>\n<p:NewExternalPort>2345</p:NewExternalPort>\n'
    + '<p:NewProtocol>TCP</p:NewProtocol>\n<p:NewInternalPort>2345</p:NewInternalPort>\n<p:NewInternalClient>192.168.1.137</p:NewInternalClient>\n'
    + '<p:NewEnabled>1</p:NewEnabled>\n<p:NewDescription>dooom</p:NewDescription>\n<p:NewLeaseTime>345</p:NewLeaseTime>\n</p:PortMappingEntry>\n'
    + '<p:PortMappingEntry>\n<p:NewRemoteHost></p:NewRemoteHost>\n<p:NewExternalPort>8080</p:NewExternalPort>\n'
    + '<p:NewProtocol>UDP</p:NewProtocol>\n<p:NewInternalPort>80</p:NewInternalPort>\n<p:NewInternalClient>192.168.1.10</p:NewInternalClient>\n'
    + '<p:NewEnabled>0</p:NewEnabled>\n<p:NewDescription>Tom &amp; &lt;Jerry&gt; ]]&gt;</p:NewDescription>\n<p:NewLeaseTime>0</p:NewLeaseTime>\n</p:PortMappingEntry>\n'
    + '</p:PortMappingList>\n');
});

test('an empty listing is the bare list element', () => {
  assert.equal(parseXml(buildPortMappingList([])).children.length, 0);
});

test('in a SOAP response the listing is a CDATA section that an XML parser reads back exactly', () => {
  const listing = buildPortMappingList([{ remoteHost: '', externalPort: 1, protocol: 'TCP', internalPort: 1, internalClient: '10.0.0.1',
    enabled: true, description: 'a ]]> b', leaseSeconds: 5 }]);
  const xml = buildSoapResponse('urn:schemas-upnp-org:service:WANIPConnection:2', 'GetListOfPortMappings', [['NewPortListing', listing, 'cdata']]);
  assert.ok(xml.includes(`<NewPortListing><![CDATA[<p:PortMappingList `));
  const envelope = parseXml(xml);
  const response = envelope.children[0]!.children[0]!;
  assert.equal(response.children[0]!.text, listing);
  // A literal ]]> in a CDATA value is split across two sections.
  assert.equal(cdataSection('x]]>y'), '<![CDATA[x]]]]><![CDATA[>y]]>');
  assert.equal(parseXml(`<a>${cdataSection('x]]>y\u0001')}</a>`).text, 'x]]>y');
});
