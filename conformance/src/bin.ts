#!/usr/bin/env node
/** `openigd-conformance ARGS`: the same as `openigd conformance ARGS`. */
import { runConformance } from './cli.js';

process.exitCode = await runConformance(process.argv.slice(2));
