#!/usr/bin/env node
/** `openigd-conformance ARGS`: the same as `openigd conformance ARGS`; `openigd-conformance probe ARGS` is `openigd conformance-probe ARGS`. */
import { runConformance, runProbeAgentCli } from './cli.js';

const argv = process.argv.slice(2);
process.exitCode = argv[0] === 'probe' ? await runProbeAgentCli(argv.slice(1)) : await runConformance(argv);
