/**
 * A Docker engine of a test's own: `dockerd` (Debian's docker.io) in a network namespace
 * made for it, entered with `nsenter --net` (`ip netns exec` remounts /sys, which dockerd
 * does not survive), with its data root, exec root, socket and log under one temporary
 * folder. Its bridges live in that namespace, so nothing a container sends reaches the
 * host's interfaces. No NAT and no forwarding by the engine (`--iptables=false
 * --ip-masq=false --ip-forward=false`): an `internal: true` network is then a plain
 * isolated bridge, and the only router between networks is ours.
 *
 * `stop()` ends dockerd by its pid, deletes the namespace and every folder the engine
 * made, whatever state it is in; it is safe to call twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { must, sh, until, uniquePrefix, type RunResult } from './ns.js';

/** Debian's CLI (docker.io) first: it matches the engine's API; any `docker` on PATH otherwise. */
export const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

/** Why the Docker tests cannot run here, or null when they can. */
export function dockerSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (dockerd, namespaces, TAP devices)';
  for (const tool of ['/usr/sbin/dockerd', '/usr/bin/docker-compose', '/usr/sbin/debootstrap']) {
    if (!existsSync(tool)) return `${tool} is missing: apt-get install docker.io docker-compose debootstrap`;
  }
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  return null;
}

export interface DockerEngine {
  /** The namespace dockerd runs in. */
  readonly netns: string;
  readonly dir: string;
  /** Environment for the docker and docker-compose clients (DOCKER_HOST, legacy builder). */
  readonly env: NodeJS.ProcessEnv;
  /** `docker ARGS`; resolves with code and output, never rejects on exit code. */
  docker(args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** Like `docker` but rejects unless it exits 0. */
  mustDocker(args: readonly string[], timeoutMs?: number): Promise<string>;
  /** `docker-compose ARGS` (v1, the one Debian 12 has). */
  compose(args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** The engine's log so far (for failure messages). */
  log(): Promise<string>;
  stop(): Promise<void>;
}

function withEnv(env: NodeJS.ProcessEnv, file: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return sh(null, 'env', [...Object.entries(env).map(([k, v]) => `${k}=${v}`), file, ...args], timeoutMs);
}

async function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => { clearTimeout(t); resolve(true); });
  });
}

/** Folders dockerd and its containerd create whatever the flags; removed at stop only if we made them. */
const ENGINE_RUN_DIRS = ['/run/docker', '/run/containerd'];

/** Starts dockerd in a new namespace; resolves once it answers `docker version`. */
export async function startEngine(log: (line: string) => void = () => {}): Promise<DockerEngine> {
  const netns = uniquePrefix('dk');
  const dir = await mkdtemp(join(tmpdir(), 'oi-dk-'));
  const sock = join(dir, 'docker.sock');
  const preexisting = ENGINE_RUN_DIRS.filter((d) => existsSync(d));
  const env: NodeJS.ProcessEnv = { DOCKER_HOST: `unix://${sock}`, DOCKER_BUILDKIT: '0', COMPOSE_DOCKER_CLI_BUILD: '0', PATH: process.env.PATH ?? '/usr/bin:/bin' };
  let child: ChildProcess | null = null;
  let stopped = false;
  const engine: DockerEngine = {
    netns, dir, env,
    docker: (args, timeoutMs = 120_000) => withEnv(env, DOCKER_CLI, args, timeoutMs),
    mustDocker: async (args, timeoutMs = 120_000) => {
      const r = await withEnv(env, DOCKER_CLI, args, timeoutMs);
      if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-2000)}`);
      return r.stdout;
    },
    compose: (args, timeoutMs = 180_000) => withEnv(env, '/usr/bin/docker-compose', args, timeoutMs),
    log: () => readFile(join(dir, 'dockerd.log'), 'utf8').catch(() => ''),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (child?.pid && child.exitCode === null) {
        child.kill('SIGTERM');
        if (!await waitExit(child, 20_000)) { child.kill('SIGKILL'); await waitExit(child, 5000); }
      }
      await sh(null, 'ip', ['netns', 'delete', netns]);
      // Mounts the engine left (overlay, shm, netns files) must go before the folder does.
      await unmountUnder(dir);
      await rm(dir, { recursive: true, force: true });
      for (const d of ENGINE_RUN_DIRS) if (!preexisting.includes(d)) await rm(d, { recursive: true, force: true });
    },
  };
  try {
    await must(null, 'ip', ['netns', 'add', netns]);
    await must(null, 'ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    const logFd = openSync(join(dir, 'dockerd.log'), 'a');
    child = spawn('nsenter', [`--net=/run/netns/${netns}`, '/usr/sbin/dockerd', '--bridge=none', '--iptables=false', '--ip-masq=false',
      '--ip-forward=false', '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'x'),
      '--pidfile', join(dir, 'dockerd.pid'), '-H', `unix://${sock}`], { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    await until('dockerd to answer', async () => (await engine.docker(['version'], 10_000)).code === 0, 60_000, 250);
    log(`dockerd (pid ${child.pid}) in namespace ${netns}, data under ${dir}`);
    return engine;
  } catch (e) {
    const text = await engine.log();
    await engine.stop();
    (e as Error).message += `\n--- dockerd log ---\n${text.split('\n').slice(-20).join('\n')}`;
    throw e;
  }
}

/** Unmounts, deepest first, every mount point below `dir` (lazily: a busy one goes when freed). */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n')
    .map((l) => l.split(' ')[1] ?? '').map((p) => p.replace(/\\040/g, ' ')).filter((p) => p.startsWith(`${dir}/`));
  for (const m of mounts.sort((a, b) => b.length - a.length)) await sh(null, 'umount', ['-l', m]);
}
