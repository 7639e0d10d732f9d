import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

export type Severity = 'error' | 'warning';

/** One problem with a pipeline, located in its file. */
export interface Diagnostic {
  severity: Severity;
  /** machine-readable kind: schema, unknown-key, missing-file, dataset-format, reference, cycle, ... */
  code: string;
  file: string;
  line: number;
  column: number;
  /** dotted path inside the file, e.g. stages[1].args.learning_rate */
  path: string;
  message: string;
  /** the offending value, as written */
  value?: string;
  hint: string;
}

export type PathSegment = string | number;

export function formatPath(path: readonly PathSegment[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s || '(top level)';
}

/** The YAML node at `path`; with `key`, the node of the last key instead of its value. */
export function findNode(doc: Document, path: readonly PathSegment[], key = false): Node | undefined {
  let node: unknown = doc.contents;
  let lastKey: Node | undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return (lastKey ?? (node as Node));
      lastKey = pair.key as Node;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      lastKey = undefined;
      node = node.items[seg];
    } else {
      return (node as Node | undefined) ?? lastKey;
    }
  }
  if (key && lastKey) return lastKey;
  return (node as Node | undefined) ?? lastKey;
}

export class Locator {
  constructor(
    readonly file: string,
    readonly doc: Document,
    readonly lines: LineCounter,
  ) {}

  at(path: readonly PathSegment[], key = false): { line: number; column: number } {
    const node = findNode(this.doc, path, key) ?? (this.doc.contents as Node | null) ?? undefined;
    const offset = node?.range?.[0] ?? 0;
    const pos = this.lines.linePos(offset);
    return { line: pos.line, column: pos.col };
  }

  valueText(path: readonly PathSegment[]): string | undefined {
    const node = findNode(this.doc, path);
    if (!node) return undefined;
    // JSON.stringify writes NaN and Infinity as null, which would hide the very value that is wrong
    const v = isScalar(node) ? node.value : undefined;
    const text = isScalar(node) ? (typeof v === 'number' && !Number.isFinite(v) ? String(v) : (JSON.stringify(v) ?? String(v))) : String(node);
    return text.length > 120 ? `${text.slice(0, 117)}...` : text;
  }

  diag(
    code: string,
    path: readonly PathSegment[],
    message: string,
    hint: string,
    opts: { severity?: Severity; key?: boolean; value?: string | null } = {},
  ): Diagnostic {
    const { line, column } = this.at(path, opts.key ?? false);
    const value = opts.value === null ? undefined : opts.value ?? this.valueText(path);
    return {
      severity: opts.severity ?? 'error',
      code,
      file: this.file,
      line,
      column,
      path: formatPath(path),
      message,
      ...(value === undefined ? {} : { value }),
      hint,
    };
  }
}

/** `file:line:col: error: message (got value)` then the fix, the format compilers use. */
export function formatDiagnostic(d: Diagnostic): string {
  const got = d.value !== undefined ? ` (got ${d.value})` : '';
  return `${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.path}: ${d.message}${got}\n    fix: ${d.hint}`;
}

export function formatDiagnostics(ds: readonly Diagnostic[]): string {
  const errors = ds.filter((d) => d.severity === 'error').length;
  const warnings = ds.length - errors;
  const head = ds.map(formatDiagnostic).join('\n');
  return `${head}\n${errors} error(s), ${warnings} warning(s)`;
}
