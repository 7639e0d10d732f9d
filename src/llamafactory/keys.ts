import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { closest, distance } from 'fastest-levenshtein';
import { projectRoot } from '../util/project-root.js';
import { err, ok, type Result } from '../util/result.js';

/**
 * The argument keys LLaMA-Factory's HfArgumentParser accepts, read from
 * configs/llamafactory-keys/<version>.json (regenerate with scripts/update-llamafactory-keys.py).
 */
export interface KeyInfo {
  key: string;
  group: string;
  type: string;
  default?: unknown;
  choices?: string[];
  onlyIn?: string;
}

export interface KeySet {
  source: { repo: string; commit: string; version: string };
  keys: Map<string, KeyInfo>;
}

/** One key set per supported LLaMA-Factory version: configs/llamafactory-keys/<version>.json. */
export const KEYS_DIR = join(projectRoot, 'configs', 'llamafactory-keys');
/** The version the shipped pipelines pin; the default where no pipeline names one. */
export const DEFAULT_KEYS_VERSION = '0.9.5';

const cache = new Map<string, KeySet>();

/** The versions that have a key set, e.g. ["0.9.5", "0.9.6.dev0"]. */
export function keySetVersions(dir = KEYS_DIR): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length))
      .sort();
  } catch {
    return [];
  }
}

/** The key set of the pinned LLaMA-Factory version, or why there is none. */
export function keySetFor(version: string, dir = KEYS_DIR): Result<KeySet, { message: string; hint: string }> {
  const versions = keySetVersions(dir);
  // the version names a file: nothing but a plain version string may reach the path
  if (!/^[0-9A-Za-z][0-9A-Za-z.+_-]*$/.test(version) || !versions.includes(version)) {
    return err({
      message: `flux-train has no LLaMA-Factory key set for version "${version}" (it has: ${versions.join(', ') || 'none'})`,
      hint: `pin one of ${versions.join(', ')}, or generate the set from an install of that version: VENV/bin/python scripts/update-llamafactory-keys.py configs/llamafactory-keys/${/^[0-9A-Za-z][0-9A-Za-z.+_-]*$/.test(version) ? version : 'VERSION'}.json`,
    });
  }
  return ok(loadKeySet(join(dir, `${version}.json`)));
}

export function loadKeySet(path = join(KEYS_DIR, `${DEFAULT_KEYS_VERSION}.json`)): KeySet {
  const hit = cache.get(path);
  if (hit) return hit;
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, Record<string, Record<string, unknown>>>;
  const meta = (raw['_meta'] ?? {}) as Record<string, unknown>;
  const keys = new Map<string, KeyInfo>();
  for (const [group, entries] of Object.entries(raw)) {
    if (group === '_meta') continue;
    // Megatron keys are only accepted when USE_MEGATRON_BRIDGE is set; we never set it.
    if (group.startsWith('MegatronBridge')) continue;
    for (const [key, info] of Object.entries(entries)) {
      keys.set(key, {
        key,
        group,
        type: String(info['type'] ?? 'unknown'),
        default: info['default'],
        ...(Array.isArray(info['choices']) ? { choices: info['choices'] as string[] } : {}),
        ...(typeof info['only_in'] === 'string' ? { onlyIn: info['only_in'] } : {}),
      });
    }
  }
  const set: KeySet = {
    source: {
      repo: String(meta['source_repo'] ?? 'hiyouga/LLaMA-Factory'),
      commit: String(meta['commit'] ?? 'unknown'),
      version: String(meta['llamafactory_version'] ?? 'unknown').split(' ')[0] as string,
    },
    keys,
  };
  cache.set(path, set);
  return set;
}

/** The closest accepted key, if it is close enough to be a typo. */
export function suggestKey(set: KeySet, key: string): string | undefined {
  return suggestFrom([...set.keys.keys()], key);
}

export function suggestFrom(candidates: readonly string[], word: string): string | undefined {
  if (candidates.length === 0) return undefined;
  const best = closest(word, candidates as string[]);
  const limit = Math.max(2, Math.floor(word.length / 3));
  return distance(word, best) <= limit ? best : undefined;
}

/** A type problem with a value, or undefined if the value fits the declared Python type. */
export function checkValueType(info: KeyInfo, value: unknown): string | undefined {
  if (value === null) return allowsNone(info.type) ? undefined : `${info.key} may not be null (type ${info.type})`;
  const atoms = splitUnion(info.type);
  const fits = atoms.some((a) => fitsAtom(a, value));
  if (!fits) return `expected ${describe(info.type)}, got ${typeName(value)}`;
  if (info.choices && typeof value === 'string' && !info.choices.includes(value) && !atoms.includes('str')) {
    return `expected one of ${info.choices.join(', ')}`;
  }
  return undefined;
}

function allowsNone(type: string): boolean {
  return /\bNone\b|Optional\[/.test(type);
}

function splitUnion(type: string): string[] {
  const t = type.replace(/^Optional\[(.*)\]$/, '$1 | None');
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of t) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (ch === '|' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

function fitsAtom(atom: string, value: unknown): boolean {
  if (atom === 'bool') return typeof value === 'boolean';
  if (atom === 'int') return typeof value === 'number' && Number.isInteger(value);
  if (atom === 'float') return typeof value === 'number';
  if (atom === 'str') return typeof value === 'string';
  if (atom === 'None') return value === null;
  if (atom === 'dict') return typeof value === 'object' && value !== null && !Array.isArray(value);
  if (atom.startsWith('list')) return Array.isArray(value);
  if (atom.startsWith('Literal[')) {
    const choices = [...atom.matchAll(/'([^']*)'/g)].map((m) => m[1]);
    return typeof value === 'string' && choices.includes(value);
  }
  // enum-like types (SchedulerType, OptimizerNames, AttentionFunction, ...) take their string names
  return typeof value === 'string';
}

function describe(type: string): string {
  return type.replace(/Optional\[(.*)\]/, '$1 | None');
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number') return Number.isInteger(value) ? `the integer ${value}` : `the number ${value}`;
  if (typeof value === 'boolean') return `the boolean ${value}`;
  return typeof value;
}
