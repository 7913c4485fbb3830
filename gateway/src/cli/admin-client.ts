/**
 * The CLI's way to the admin API: over its Unix socket, or over TCP with the bearer
 * token. Which socket, when none is given: the one named by `--config FILE`, else the
 * lab's when `--prefix`/`--dir` name one, else `$OPENIGD_SOCKET`, else the default
 * lab's (from the record `openigd lab up` wrote). Answers are JSON; a
 * refusal becomes one line with the API's own error text and the HTTP status.
 */
import { request } from 'node:http';
import { readFile } from 'node:fs/promises';
import { labRecord, LAB_DEFAULT_DIR, LAB_DEFAULT_PREFIX } from '../lab/lab.js';
import { CliError, UsageError } from './args.js';
import { readConfig } from './config-file.js';

/** The options every command that talks to the admin API takes. */
export const ADMIN_OPTIONS = {
  socket: { type: 'string' },
  admin: { type: 'string' },
  'token-file': { type: 'string' },
  config: { type: 'string' },
  prefix: { type: 'string' },
  dir: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const ADMIN_OPTIONS_HELP = `
Reaching the gateway (first that applies):
  --socket PATH          the admin API's Unix socket
  --admin URL            the admin TCP listener, e.g. http://127.0.0.1:9108, with
  --token-file FILE      the file holding its bearer token (first line)
  --config FILE          the socket named in that gateway config (admin.socket)
  --prefix P, --dir D    the socket of the lab P (in D)
  $OPENIGD_SOCKET        the socket this names (the Docker image sets it)
  otherwise              the socket of the lab ${LAB_DEFAULT_PREFIX} in ${LAB_DEFAULT_DIR}
Output:
  --json                 the API's JSON as it came, instead of a table`;

export interface AdminTarget {
  readonly socket?: string;
  readonly admin?: string;
  readonly 'token-file'?: string;
  readonly config?: string;
  readonly prefix?: string;
  readonly dir?: string;
}

export interface AdminClient {
  /** Where it talks to, for messages. */
  readonly where: string;
  /** Sends the request; resolves with the parsed JSON body (null for an empty one), rejects with a `CliError` otherwise. */
  call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<unknown>;
}

const TIMEOUT_MS = 10_000;

/** The client the options name; a usage error when they contradict each other. */
export async function adminClient(command: string, o: AdminTarget): Promise<AdminClient> {
  if (o.socket !== undefined && o.admin !== undefined) throw new UsageError('give --socket or --admin, not both', command);
  if (o.admin !== undefined) return tcpClient(command, o.admin, o['token-file']);
  if (o['token-file'] !== undefined) throw new UsageError('--token-file goes with --admin URL', command);
  return socketClient(o.socket ?? await defaultSocket(o));
}

async function defaultSocket(o: AdminTarget): Promise<string> {
  if (o.config !== undefined) {
    const config = await readConfig(o.config);
    if (!config.admin) throw new CliError(`${o.config} has no admin section: the gateway it configures has no admin API`);
    return config.admin.socket;
  }
  const fromEnv = process.env.OPENIGD_SOCKET;
  if (fromEnv && o.prefix === undefined && o.dir === undefined) return fromEnv;
  const prefix = o.prefix ?? LAB_DEFAULT_PREFIX;
  const rec = await labRecord(prefix, o.dir ?? LAB_DEFAULT_DIR);
  if (!rec) throw new CliError(`no admin socket: give --socket PATH, --config FILE or --admin URL (and no lab "${prefix}" is up)`);
  return rec.adminSocket;
}

async function tcpClient(command: string, url: string, tokenFile: string | undefined): Promise<AdminClient> {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new UsageError(`--admin must be a URL such as http://127.0.0.1:9108, not "${url}"`, command);
  }
  if (base.protocol !== 'http:') throw new UsageError(`--admin must be an http:// URL, not "${url}"`, command);
  if (tokenFile === undefined) throw new UsageError('--admin needs --token-file FILE (the TCP listener wants its bearer token)', command);
  let token: string;
  try {
    token = (await readFile(tokenFile, 'utf8')).split('\n')[0]!.trim();
  } catch (e) {
    throw new CliError(`cannot read the token file ${tokenFile} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const where = base.origin;
  return {
    where,
    call: (method, path, body) => send(where, { host: base.hostname, port: Number(base.port || 80), headers: { authorization: `Bearer ${token}` } }, method, path, body),
  };
}

function socketClient(socketPath: string): AdminClient {
  return { where: socketPath, call: (method, path, body) => send(socketPath, { socketPath, headers: {} }, method, path, body) };
}

interface Endpoint {
  readonly socketPath?: string;
  readonly host?: string;
  readonly port?: number;
  readonly headers: Record<string, string>;
}

function send(where: string, at: Endpoint, method: string, path: string, body: unknown): Promise<unknown> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers = { ...at.headers, accept: 'application/json', ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}) };
  return new Promise((resolve, reject) => {
    const req = request({ ...at, agent: false, method, path, headers, timeout: TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => reject(unreachable(where, e)));
      res.on('end', () => {
        try {
          resolve(answer(method, path, res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          reject(e as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer in ${TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', (e) => reject(unreachable(where, e)));
    req.end(payload);
  });
}

/** The parsed body of a 2xx answer; otherwise a `CliError` with the API's `error` text. */
function answer(method: string, path: string, status: number, text: string): unknown {
  let json: unknown = null;
  if (text.length > 0) {
    try {
      json = JSON.parse(text);
    } catch {
      throw new CliError(`${method} ${path}: HTTP ${status} with a body that is not JSON`);
    }
  }
  if (status >= 200 && status < 300) return json;
  const said = json !== null && typeof json === 'object' && typeof (json as { error?: unknown }).error === 'string' ? (json as { error: string }).error : 'refused';
  throw new CliError(`${said} (${method} ${path}: HTTP ${status})`);
}

function unreachable(where: string, e: Error & { code?: string }): CliError {
  const why = e.code === 'ENOENT' ? 'no such socket (is the gateway running?)'
    : e.code === 'ECONNREFUSED' ? 'connection refused (is the gateway running?)'
      : e.code === 'EACCES' ? 'permission denied (the socket is root\'s)' : e.message;
  return new CliError(`cannot reach the admin API at ${where}: ${why}`);
}
