/**
 * The admin API's port mappings: listed from, and changed through, the protocol-neutral
 * MappingService that UPnP, NAT-PMP and PCP use, so what the operator does is durable,
 * evented (SystemUpdateID, GENA) and listed by `upnpc -l` like any client's mapping.
 * The operator's own mappings are made with origin 'admin'; a change keeps the origin of
 * the mapping it changes. The clients' access policy does not bind the operator.
 * Without the IGD there is no MappingService: the NAT table's mappings are listed, and
 * changes are refused.
 */
import { remainingLeaseSeconds, type MappingService, type PortMapping, type ActionFailure } from '@openigd/igd-service';
import { ipv4ToString, type NatTable } from '@openigd/nat-table';
import type { MappingView } from '../../stats.js';
import type { MappingInput, MappingKeyParams, MappingPatch } from '../admin-requests.js';
import type { ControlOutcome, GatewayControl } from '../admin-api.js';

/** The requester recorded on mappings the operator makes. */
export const OPERATOR_REQUESTER = 'admin';

type MappingControl = Pick<GatewayControl, 'mappings' | 'addMapping' | 'updateMapping' | 'deleteMapping'>;

/** A mapping as `GET /mappings` shows it, its lease counted from `nowMs` (wall clock). */
export function mappingView(m: PortMapping, nowMs: number): MappingView {
  const leased = m.expiresAtMs !== 0;
  return {
    ...m,
    expiresAt: leased ? new Date(m.expiresAtMs).toISOString() : null,
    leaseRemainingSeconds: leased ? Math.max(0, Math.ceil((m.expiresAtMs - nowMs) / 1000)) : null,
  };
}

const refused = (f: ActionFailure): ControlOutcome<never> => ({ ok: false, status: 409, error: f.detail ? `${f.reason}: ${f.detail}` : f.reason });
const notFound = (key: MappingKeyParams): ControlOutcome<never> => ({ ok: false, status: 404, error: `no mapping of ${key.protocol} ${key.externalPort}` });

/** The mapping of a path's key: the wildcard remote host's, else the first for one remote host. */
function findMapping(service: MappingService, key: MappingKeyParams): PortMapping | undefined {
  let found: PortMapping | undefined;
  for (const m of service.list()) {
    if (m.protocol !== key.protocol || m.externalPort !== key.externalPort) continue;
    if (m.remoteHost === '') return service.get(m);
    found ??= m;
  }
  return found && service.get(found);
}

/** Puts `mapping` back as it was (after a failed re-point); its lease keeps its end. */
async function restore(service: MappingService, mapping: PortMapping): Promise<void> {
  await service.put({ ...mapping, leaseSeconds: remainingLeaseSeconds(mapping, service.clock()), operator: true });
}

/** The admin API's mappings through the MappingService. */
export function serviceMappingControl(service: MappingService): MappingControl {
  const view = (m: PortMapping): MappingView => mappingView(m, service.clock());
  return {
    mappings: () => service.list().map(view),
    addMapping: async (input: MappingInput) => {
      const held = findMapping(service, input);
      if (held) {
        return { ok: false, status: 409, error: `${input.protocol} ${input.externalPort} is already mapped to ${held.internalClient}:${held.internalPort} (through ${held.origin}); change it with PATCH` };
      }
      const r = await service.put({
        remoteHost: '', protocol: input.protocol, externalPort: input.externalPort, internalClient: input.internalClient,
        internalPort: input.internalPort, enabled: input.enabled ?? true, description: input.description ?? '',
        leaseSeconds: input.leaseSeconds ?? 0, origin: 'admin', requester: OPERATOR_REQUESTER, operator: true,
      });
      return r.ok ? { ok: true, value: view(r.mapping) } : refused(r);
    },
    updateMapping: async (key: MappingKeyParams, patch: MappingPatch) => {
      const existing = findMapping(service, key);
      if (!existing) return notFound(key);
      // Fields not named keep their value; the lease keeps its end unless a new one is given.
      const changed = {
        ...existing, ...patch, operator: true,
        leaseSeconds: patch.leaseSeconds ?? remainingLeaseSeconds(existing, service.clock()),
      };
      if (changed.internalClient === existing.internalClient) {
        const r = await service.put(changed);
        return r.ok ? { ok: true, value: view(r.mapping) } : refused(r);
      }
      // The overwrite rule keeps a key with its internal client: re-pointing is a delete and an add.
      const gone = await service.delete(existing, OPERATOR_REQUESTER, true);
      if (!gone.ok) return refused(gone);
      const r = await service.put(changed);
      if (r.ok) return { ok: true, value: view(r.mapping) };
      await restore(service, existing);
      return refused(r);
    },
    deleteMapping: async (key: MappingKeyParams) => {
      const existing = findMapping(service, key);
      if (!existing) return notFound(key);
      const r = await service.delete(existing, OPERATOR_REQUESTER, true);
      return r.ok ? { ok: true, value: null } : r.reason === 'no-such-entry' ? notFound(key) : refused(r);
    },
  };
}

const NO_IGD: ControlOutcome<never> = { ok: false, status: 409, error: 'port mappings are changed through the IGD\'s mapping service: set igd.enabled: true' };

/** Without the IGD: the NAT table's mappings, read-only. */
export function tableMappingControl(table: NatTable): MappingControl {
  return {
    mappings: () => table.listPortMappings().map((m): MappingView => ({
      remoteHost: m.remoteHost ? ipv4ToString(m.remoteHost) : '', externalPort: m.externalPort, protocol: m.protocol === 6 ? 'TCP' : 'UDP',
      internalClient: ipv4ToString(m.internalClient), internalPort: m.internalPort, enabled: m.enabled, description: m.description ?? '',
      leaseSeconds: 0, expiresAtMs: 0, origin: 'nat-table', requester: '', expiresAt: null, leaseRemainingSeconds: null,
    })),
    addMapping: () => Promise.resolve(NO_IGD),
    updateMapping: () => Promise.resolve(NO_IGD),
    deleteMapping: () => Promise.resolve(NO_IGD),
  };
}
