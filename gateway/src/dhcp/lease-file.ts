/**
 * The LAN DHCP server's leases between runs: `dhcp-leases.json` in the state directory,
 * replaced durably (igd-service's `replaceFileDurably`: temp file, fsync, rename, fsync
 * the directory), so a crash leaves the old file or the new one, never half of one.
 * Saves are queued: one write at a time, and only the newest lease list is written.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceFileDurably } from '@openigd/igd-service';
import type { Logger } from '../log.js';
import type { DhcpLease, LeasePersistence } from './dhcp-server.js';

export const LEASE_FILE_NAME = 'dhcp-leases.json';

export class LeaseFile implements LeasePersistence {
  readonly path: string;
  private pending: readonly DhcpLease[] | null = null;
  private writing: Promise<void> | null = null;

  constructor(private readonly directory: string, private readonly log: Logger) {
    this.path = join(directory, LEASE_FILE_NAME);
  }

  /** The stored leases; none when the file is missing or unreadable (said in the log). */
  async load(): Promise<DhcpLease[]> {
    try {
      const data = JSON.parse(await readFile(this.path, 'utf8')) as { leases?: DhcpLease[] };
      return Array.isArray(data.leases) ? data.leases : [];
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ path: this.path, error: String(e) }, 'dhcp leases unreadable; starting without them');
      return [];
    }
  }

  save(leases: readonly DhcpLease[]): void {
    this.pending = leases;
    this.writing ??= this.drain();
  }

  /** Resolves once every save so far is on disk (or has failed and been logged). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    for (let leases = this.pending; leases; leases = this.pending) {
      this.pending = null;
      try {
        await replaceFileDurably(this.directory, LEASE_FILE_NAME, new TextEncoder().encode(JSON.stringify({ version: 1, leases }) + '\n'));
      } catch (e) {
        this.log.error({ path: this.path, error: String(e) }, 'cannot write dhcp leases');
      }
    }
    this.writing = null;
  }
}
