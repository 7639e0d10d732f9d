#!/usr/bin/env node
// Writes a tiny stand-in "model" and ReasonFlux-shaped datasets for the demo pipeline and the tests:
//   DIR/models/tiny-base/{config.json,model.safetensors}   (what the stand-in trainer checks for)
//   DIR/data/sft.jsonl (alpaca), dpo_proposer.jsonl, dpo_reasoner.jsonl (alpaca preference data)
// usage: node scripts/make-demo-data.mjs [DIR] [--records N]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
const dir = resolve(args.find((a) => !a.startsWith('--')) ?? '.demo');
const ri = args.indexOf('--records');
const n = ri >= 0 ? Number(args[ri + 1]) : 32;

mkdirSync(join(dir, 'models', 'tiny-base'), { recursive: true });
writeFileSync(join(dir, 'models', 'tiny-base', 'config.json'), JSON.stringify({ architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: 8 }) + '\n');
writeFileSync(join(dir, 'models', 'tiny-base', 'model.safetensors'), 'stand-in weights\n');
mkdirSync(join(dir, 'data'), { recursive: true });
const lines = (f) => Array.from({ length: n }, (_, i) => JSON.stringify(f(i))).join('\n') + '\n';
writeFileSync(join(dir, 'data', 'sft.jsonl'), lines((i) => ({ instruction: `Problem ${i}: what is ${i} + ${i}?`, input: '', output: `Template: add. Answer ${2 * i}.` })));
for (const name of ['dpo_proposer', 'dpo_reasoner']) {
  writeFileSync(join(dir, 'data', `${name}.jsonl`), lines((i) => ({ instruction: `Problem ${i}`, input: '', chosen: `good ${name} ${i}`, rejected: `bad ${name} ${i}` })));
}
console.log(`demo data in ${dir}`);
