// Prints the accepted LLaMA-Factory keys, one per line (for the stand-in trainer's strict check).
import { readFileSync } from 'node:fs';
const raw = JSON.parse(readFileSync(new URL('../configs/llamafactory-keys.json', import.meta.url), 'utf8'));
const keys = new Set();
for (const [group, entries] of Object.entries(raw)) {
  if (group === '_meta' || group.startsWith('MegatronBridge')) continue;
  for (const k of Object.keys(entries)) keys.add(k);
}
process.stdout.write([...keys].sort().join('\n') + '\n');
