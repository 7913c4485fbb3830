/**
 * What every benchmark's entry point does the same way: run `main` and turn its result
 * (or an exception) into the exit code, write the `--json` report, and read the Debian
 * versions of the peers it measured.
 */
import { writeFile } from 'node:fs/promises';
import { sh } from '../../lib/ns.js';

/**
 * Runs a bench's `main` and sets `process.exitCode`: the larger of what it returned and
 * what was set on the way (a failed clean-up sets 1); an exception is printed under the
 * bench's `name` and gives 1.
 */
export async function runBench(name: string, main: () => Promise<number>): Promise<void> {
  process.exitCode = await main().then(
    (code) => Math.max(code, Number(process.exitCode ?? 0)),
    (e: unknown) => {
      console.error(`${name}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      return 1;
    },
  );
}

/** Writes `report` to `path` as indented JSON and says so. */
export async function writeJsonReport(path: string, report: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`results written to ${path}`);
}

/** The installed Debian version of each of `packages` that is installed, by package name. */
export async function debVersions(packages: readonly string[]): Promise<Record<string, string>> {
  const q = await sh(null, 'dpkg-query', ['-W', '-f', '${Package} ${Version}\\n', ...packages], 5_000);
  const out: Record<string, string> = {};
  for (const line of q.stdout.split('\n')) {
    const [pkg, version] = line.trim().split(' ');
    if (pkg && version) out[pkg] = version;
  }
  return out;
}
