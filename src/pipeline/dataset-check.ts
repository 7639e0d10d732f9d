import { closeSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, sep } from 'node:path';
import { effectiveColumns, effectiveTags } from '../llamafactory/dataset-info.js';
import type { DatasetSpec } from './schema.js';
import { kindOf } from './read-file.js';
import { closest, distance } from 'fastest-levenshtein';
import { hasOwn, own } from '../util/own.js';
import { err, ok, type Result } from '../util/result.js';

/** The file extensions LLaMA-Factory loads (FILEEXT2TYPE). */
export const DATASET_EXTENSIONS = ['arrow', 'csv', 'json', 'jsonl', 'parquet', 'txt'];

export interface DatasetProblem {
  code: 'missing-file' | 'dataset-format' | 'unreadable';
  message: string;
  hint: string;
}

/** The data file LLaMA-Factory would read first (a path may be a file or a folder of same-typed files). */
export function firstDataFile(path: string): Result<string, DatasetProblem> {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      return err({
        code: 'unreadable',
        message: `dataset file ${path} cannot be read (${code ?? String(e)})`,
        hint: code === 'ELOOP' ? 'the path is a loop of symbolic links: point it at the data itself' : code === 'ENAMETOOLONG' ? 'shorten the path' : 'check the permissions of the file and the folders above it',
      });
    }
    return err({
      code: 'missing-file',
      message: `dataset file ${path} does not exist`,
      hint: 'correct the path (relative paths are relative to the pipeline file), or put the file there',
    });
  }
  if (!st.isDirectory() && !st.isFile()) {
    // opening a FIFO blocks until a writer comes; a device may never end
    return err({ code: 'unreadable', message: `dataset path ${path} is ${kindOf(st)}, not a file or folder`, hint: 'point the dataset at a regular data file or a folder of them' });
  }
  if (!st.isDirectory()) {
    const ext = extname(path).slice(1).toLowerCase();
    if (!DATASET_EXTENSIONS.includes(ext)) {
      return err({
        code: 'dataset-format',
        message: `LLaMA-Factory cannot load ".${ext}" files`,
        hint: `convert the data to one of: ${DATASET_EXTENSIONS.join(', ')}`,
      });
    }
    return ok(path);
  }
  let files: string[];
  try {
    files = readdirSync(path)
      .filter((f) => !f.startsWith('.'))
      .sort();
  } catch (e) {
    return err({ code: 'unreadable', message: `dataset folder ${path} cannot be listed (${(e as NodeJS.ErrnoException).code ?? String(e)})`, hint: 'check the permissions of the folder' });
  }
  if (files.length === 0) {
    return err({ code: 'missing-file', message: `dataset folder ${path} is empty`, hint: 'put the data files into it' });
  }
  const exts = new Set(files.map((f) => extname(f).slice(1).toLowerCase()));
  if (exts.size > 1) {
    return err({
      code: 'dataset-format',
      message: `dataset folder ${path} mixes file types (${[...exts].join(', ')}); LLaMA-Factory stops with "File types should be identical."`,
      hint: 'keep only the data files in the folder (a downloaded README.md or .gitattributes must go)',
    });
  }
  return firstDataFile(join(path, files[0] as string));
}

/** Reads the first record of a .json (array) or .jsonl file without loading the whole file. */
export function readFirstRecord(file: string, maxBytes = 16 * 1024 * 1024): Result<unknown, DatasetProblem> {
  const ext = extname(file).slice(1).toLowerCase();
  if (ext !== 'json' && ext !== 'jsonl') return ok(undefined); // parquet/arrow/csv: not inspected
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    return err({ code: 'unreadable', message: `dataset file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, hint: 'check the permissions of the file' });
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    const buf = Buffer.alloc(64 * 1024);
    let nextTry = buf.length;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        return err({ code: 'unreadable', message: `dataset file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, hint: 'check that it is a readable file' });
      }
      if (n <= 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
      total += n;
      // parse at doubling sizes: a first record of many MB is read in O(n log n), not O(n^2)
      if (total < nextTry && n === buf.length) continue;
      nextTry = total * 2;
      const text = Buffer.concat(chunks).toString('utf8');
      const rec = ext === 'jsonl' ? firstJsonlRecord(text, n < buf.length) : firstArrayElement(text);
      if (rec !== undefined) return rec;
      if (total >= maxBytes) break;
    }
  } finally {
    closeSync(fd);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const last = ext === 'jsonl' ? firstJsonlRecord(text, true) : firstArrayElement(text);
  return (
    last ?? err({ code: 'unreadable', message: `could not read a first record from ${file}`, hint: 'check that the file is valid JSON (an array) or JSON Lines' })
  );
}

function firstJsonlRecord(text: string, atEnd: boolean): Result<unknown, DatasetProblem> | undefined {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    const complete = i < lines.length - 1 || atEnd;
    if (!complete) return undefined;
    try {
      return ok(JSON.parse(line));
    } catch (e) {
      return err({ code: 'unreadable', message: `first line is not valid JSON: ${(e as Error).message}`, hint: 'each line of a .jsonl file must be one JSON object' });
    }
  }
  return undefined;
}

/** Scans `[ {...}, ...` for the end of the first element, respecting strings and escapes. */
function firstArrayElement(text: string): Result<unknown, DatasetProblem> | undefined {
  let i = 0;
  while (i < text.length && /\s/.test(text[i] as string)) i++;
  if (i >= text.length) return undefined;
  if (text[i] !== '[') {
    if (text[i] === '{') {
      return err({
        code: 'dataset-format',
        message: 'the .json file holds an object, not a list of records',
        hint: 'LLaMA-Factory expects a JSON array of records in .json files, or one record per line in .jsonl files',
      });
    }
    return err({ code: 'unreadable', message: 'the file does not start with a JSON array', hint: 'use a JSON array of records, or JSON Lines' });
  }
  i++;
  while (i < text.length && /\s/.test(text[i] as string)) i++;
  const start = i;
  let depth = 0;
  let inStr = false;
  for (; i < text.length; i++) {
    const ch = text[i];
    if (inStr) {
      if (ch === '\\') i++;
      else if (ch === '"') inStr = false;
      continue;
    }
    if (ch === '"') inStr = true;
    else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0) {
        try {
          return ok(JSON.parse(text.slice(start, i + 1)));
        } catch (e) {
          return err({ code: 'unreadable', message: `first record is not valid JSON: ${(e as Error).message}`, hint: 'fix the JSON' });
        }
      }
      if (depth < 0) return err({ code: 'dataset-format', message: 'the JSON array is empty', hint: 'the dataset has no records' });
    }
  }
  return undefined;
}

/** Checks one record against the declared formatting, ranking flag and columns. Returns problems. */
export function checkRecord(spec: DatasetSpec, record: unknown): string[] {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return ['the first record is not a JSON object'];
  const rec = record as Record<string, unknown>;
  const cols = effectiveColumns(spec);
  const problems: string[] = [];
  const keys = Object.keys(rec).join(', ');
  // a column mapped explicitly must exist: LLaMA-Factory fails with a KeyError inside datasets.map
  for (const [what, col] of Object.entries(spec.columns ?? {})) {
    if (typeof col === 'string' && !hasOwn(rec, col)) problems.push(`${what} column "${col}" is missing (the record has: ${keys})`);
  }
  const need = (col: string | undefined, what: string): unknown => {
    if (col === undefined) return undefined;
    if (!hasOwn(rec, col)) problems.push(`${what} column "${col}" is missing (the record has: ${keys})`);
    return own(rec, col);
  };
  if (spec.formatting === 'alpaca') {
    if (hasOwn(rec, 'conversations') || hasOwn(rec, 'messages')) {
      if (!hasOwn(rec, cols['prompt'] as string)) {
        problems.push(`the record looks like sharegpt (it has "${hasOwn(rec, 'conversations') ? 'conversations' : 'messages'}") but the dataset is declared alpaca`);
        return problems;
      }
    }
    need(cols['prompt'], 'prompt');
    if (spec.ranking) {
      for (const side of ['chosen', 'rejected'] as const) {
        const v = need(cols[side], side);
        if (v !== undefined && typeof v !== 'string') problems.push(`alpaca ${side} must be a string, got ${Array.isArray(v) ? 'a list' : typeof v}`);
      }
    } else {
      if (hasOwn(rec, 'chosen') && hasOwn(rec, 'rejected') && !hasOwn(rec, cols['response'] as string)) {
        problems.push('the record has chosen/rejected, so it is preference data: declare `ranking: true`');
      } else need(cols['response'], 'response');
    }
    return problems;
  }
  // sharegpt
  const tags = effectiveTags(spec);
  const msgs = need(cols['messages'], 'messages');
  if (msgs === undefined) {
    if (hasOwn(rec, 'instruction')) problems.push('the record looks like alpaca (it has "instruction") but the dataset is declared sharegpt');
    return problems;
  }
  if (!Array.isArray(msgs)) return [...problems, `messages column "${cols['messages']}" must be a list of turns`];
  let turns = msgs as Record<string, unknown>[];
  if (turns.length > 0 && typeof turns[0] === 'object' && turns[0] !== null && own(turns[0], tags.role_tag) === tags.system_tag) turns = turns.slice(1);
  const badTurn = turns.find((t) => typeof t !== 'object' || t === null || Array.isArray(t) || !hasOwn(t, tags.role_tag) || !hasOwn(t, tags.content_tag));
  if (badTurn !== undefined) {
    problems.push(`turns must be objects with "${tags.role_tag}" and "${tags.content_tag}" (set \`tags\` for other names, e.g. role/content)`);
    return problems;
  }
  const userish = new Set([tags.user_tag, tags.observation_tag]);
  const asstish = new Set([tags.assistant_tag, tags.function_tag]);
  turns.forEach((t, i) => {
    const role = String(own(t, tags.role_tag));
    const okRole = i % 2 === 0 ? userish.has(role) : asstish.has(role);
    if (!okRole) problems.push(`turn ${i} has role "${role}", expected ${i % 2 === 0 ? tags.user_tag : tags.assistant_tag} (turns must alternate user/assistant)`);
  });
  if (spec.ranking) {
    if (turns.length % 2 !== 1) {
      problems.push(`preference conversations must end on a user turn (odd number of turns), this one has ${turns.length}; the answers go in chosen/rejected`);
    }
    for (const side of ['chosen', 'rejected'] as const) {
      const v = need(cols[side], side);
      if (v === undefined) continue;
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        problems.push(`sharegpt ${side} must be one message object {"${tags.role_tag}": "${tags.assistant_tag}", "${tags.content_tag}": ...}, got ${typeof v === 'string' ? 'a string' : Array.isArray(v) ? 'a list' : typeof v}`);
      } else if (!asstish.has(String(own(v as Record<string, unknown>, tags.role_tag)))) {
        problems.push(`sharegpt ${side} must have role "${tags.assistant_tag}"`);
      }
    }
  } else {
    if (hasOwn(rec, 'chosen') && hasOwn(rec, 'rejected')) problems.push('the record has chosen/rejected, so it is preference data: declare `ranking: true`');
    else if (turns.length % 2 !== 0) problems.push(`SFT conversations must end on an assistant turn (even number of turns), this one has ${turns.length}`);
  }
  return problems;
}

/** The folders scripts/fetch-datasets.sh downloads (the released ReasonFlux-V2 data). */
export const RELEASED_DATASET_DIRS = ['ReasonFlux-V2-SFT', 'ReasonFlux-V2-DPO', 'ReasonFlux-V2-Reasoner-DPO'];

export interface MissingContext {
  /** the round whose file this is */
  round: number;
  /** the round number the source was declared for (`source: {2: ...}`), `default`, or `path` */
  declaredFor: string;
  /** the dataset's Hugging Face id, where declared */
  hfHubId?: string;
}

/**
 * The fix for a dataset file that is not there, by where it comes from: the released data
 * (scripts/fetch-datasets.sh), the demo or tiny-cpu fixtures (their scripts), a later round's data
 * (never released: a command stage of the previous round writes it, or you do) or a typo.
 */
export function missingDataHint(hostPath: string, ctx: MissingContext): string {
  const near = nearName(hostPath);
  const parts = hostPath.split(sep);
  const demo = parts.lastIndexOf('.demo');
  let how: string;
  if (near !== undefined) how = `did you mean ${near}? (correct the path in the pipeline)`;
  else if (demo >= 0) how = `make the demo data: node scripts/make-demo-data.mjs ${parts.slice(0, demo + 1).join(sep)}`;
  else if (hostPath.includes(`${sep}.cache${sep}tiny-cpu${sep}`)) how = 'make the tiny-cpu fixtures: bash scripts/make-tiny-cpu-fixtures.sh';
  else if (ctx.round >= 2 && ctx.declaredFor !== '1') {
    how = `round ${ctx.round} data was never released: write it with a command stage of round ${ctx.round - 1} (\`source: {default: {stage: ID, file: NAME}}\`, see README "Datasets"), or put the file there by hand`;
  } else if (ctx.hfHubId !== undefined || parts.some((p) => RELEASED_DATASET_DIRS.includes(p))) {
    how = `download the released data: scripts/fetch-datasets.sh${ctx.hfHubId ? ` (${ctx.hfHubId})` : ''}; see README "Datasets"`;
  } else how = 'correct the path (relative paths are relative to the pipeline file), or put the file there';
  return how;
}

/** A file in the same folder whose name is nearly the one asked for (case, a typo). */
function nearName(hostPath: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dirname(hostPath));
  } catch {
    return undefined;
  }
  const want = basename(hostPath);
  const same = names.find((n) => n.toLowerCase() === want.toLowerCase());
  // a tight bound: dpo_reasoner.jsonl is not a typo of dpo_proposer.jsonl
  const close = names.length > 0 ? closest(want, names) : undefined;
  const guess = same ?? (close !== undefined && distance(want, close) <= 2 ? close : undefined);
  return guess === undefined || guess === want ? undefined : join(dirname(hostPath), guess);
}
