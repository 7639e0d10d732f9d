#!/usr/bin/env node
import { main } from '../dist/src/cli.js';

await main(process.argv);
// Detached jobs may still hold an engine request open (a container wait); the CLI's work is done,
// so leave now instead of waiting for the training to end. stdout/stderr are synchronous here.
process.exit(process.exitCode ?? 0);
