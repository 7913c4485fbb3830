/**
 * The frame of every command that talks to the admin API: its options plus the
 * common ones (where the gateway is, `--json`), parsed before anything is sent; then
 * the command's own step, which gets the client and says what to print.
 */
import { parse, type Command, type OptionValues } from './args.js';
import { ADMIN_OPTIONS, ADMIN_OPTIONS_HELP, adminClient, type AdminClient } from './admin-client.js';
import type { ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface AdminStep<O extends Options> {
  readonly values: OptionValues<O & typeof ADMIN_OPTIONS>;
  readonly positionals: readonly string[];
  /** `--json`: print the API's JSON instead of the table. */
  readonly json: boolean;
  /** Opens the client; a step checks its operands first, so a usage error sends nothing. */
  readonly client: () => Promise<AdminClient>;
}

export interface AdminCommandSpec<O extends Options> {
  readonly name: string;
  readonly summary: string;
  /** The usage lines and the command's own options; the common ones are appended. */
  readonly help: string;
  readonly options: O;
  readonly step: (s: AdminStep<O>) => Promise<string>;
}

/** `body` as the `--json` output: the API's JSON, one line. */
export const jsonText = (body: unknown): string => `${JSON.stringify(body)}\n`;

export function adminCommand<O extends Options>(spec: AdminCommandSpec<O>): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    help: `${spec.help.trimEnd()}\n${ADMIN_OPTIONS_HELP}\n`,
    run: async (args) => {
      const { values, positionals } = parse(spec.name, args, { ...spec.options, ...ADMIN_OPTIONS });
      const common = values as OptionValues<typeof ADMIN_OPTIONS>;
      return spec.step({ values, positionals, json: common.json === true, client: () => adminClient(spec.name, common) });
    },
  };
}
