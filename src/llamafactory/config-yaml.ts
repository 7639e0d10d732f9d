import { stringify } from 'yaml';
import type { KeySet } from './keys.js';

/**
 * Renders a flat LLaMA-Factory config. Floats always carry a decimal point and a signed exponent
 * (5.0e-07, 5.0) so that every YAML loader, PyYAML's 1.1 rules included, reads them as floats.
 */
export function renderConfigYaml(args: Record<string, unknown>, keySet: KeySet, header: string[] = []): string {
  const lines = header.map((h) => `# ${h}`);
  for (const [key, value] of Object.entries(args)) {
    if (value === undefined) continue;
    const type = keySet.keys.get(key)?.type ?? '';
    // HF declares *_steps as float so that values < 1 mean a ratio; whole numbers there are counts
    const isFloat = /\bfloat\b/.test(type) && !/\bint\b/.test(type) && !key.endsWith('steps');
    lines.push(`${key}: ${renderValue(value, isFloat)}`);
  }
  return `${lines.join('\n')}\n`;
}

function renderValue(value: unknown, isFloat: boolean): string {
  if (typeof value === 'number') return formatNumber(value, isFloat);
  if (typeof value === 'boolean' || value === null) return String(value);
  if (typeof value === 'string') return stringify(value).trimEnd();
  return stringify(value, { flow: true }).trimEnd();
}

export function formatNumber(v: number, isFloat: boolean): string {
  if (!Number.isFinite(v)) return v > 0 ? '.inf' : v < 0 ? '-.inf' : '.nan';
  if (Number.isInteger(v) && Math.abs(v) < 1e21) return isFloat ? `${v}.0` : String(v);
  let s = String(v);
  if (s.includes('e')) {
    let [mant, exp] = s.split('e') as [string, string];
    if (!mant.includes('.')) mant = `${mant}.0`;
    if (!exp.startsWith('-') && !exp.startsWith('+')) exp = `+${exp}`;
    const sign = exp[0];
    const digits = exp.slice(1).padStart(2, '0');
    s = `${mant}e${sign}${digits}`;
  }
  return s;
}
