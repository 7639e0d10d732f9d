// Prints the accepted LLaMA-Factory keys of one version, one per line (for the stand-in trainer's strict check).
//   usage: node scripts/keys-list.mjs [VERSION]   (default 0.9.5, the version the shipped pipelines pin)
import { readFileSync } from 'node:fs';
const version = process.argv[2] ?? '0.9.5';
const raw = JSON.parse(readFileSync(new URL(`../configs/llamafactory-keys/${version}.json`, import.meta.url), 'utf8'));
const keys = new Set();
for (const [group, entries] of Object.entries(raw)) {
  if (group === '_meta' || group.startsWith('MegatronBridge')) continue;
  for (const k of Object.keys(entries)) keys.add(k);
}
process.stdout.write([...keys].sort().join('\n') + '\n');
