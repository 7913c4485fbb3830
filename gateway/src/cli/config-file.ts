/** A gateway config file for the CLI: loaded and checked, or one line saying what is wrong. */
import { loadConfig, ConfigError, type GatewayConfig } from '../config/config.js';
import { CliError } from './args.js';

export async function readConfig(path: string): Promise<GatewayConfig> {
  try {
    return await loadConfig(path);
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(`bad config: ${e.message}`);
    const code = (e as NodeJS.ErrnoException).code;
    if (code) throw new CliError(`cannot read ${path} (${code})`);
    throw e;
  }
}
