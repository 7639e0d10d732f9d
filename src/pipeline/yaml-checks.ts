import { isScalar, visit, type Document, type Node } from 'yaml';
import type { Diagnostic } from './diagnostics.js';
import { RESERVED_NAMES } from '../util/own.js';

type At = (offset: number | undefined) => { line: number; column: number };

/**
 * Checks on the YAML tree before it becomes JavaScript values: aliases must resolve, and no key may
 * be one of RESERVED_NAMES (toJS would turn `__proto__` into a prototype or drop it with its content).
 */
export function checkYamlNodes(doc: Document, file: string, at: At): Diagnostic[] {
  const out: Diagnostic[] = [];
  visit(doc, {
    Alias(_, node) {
      if (node.resolve(doc) === undefined) {
        out.push({
          severity: 'error',
          code: 'yaml-alias',
          file,
          ...at(node.range?.[0]),
          path: '(aliases)',
          message: `the alias *${node.source} refers to no anchor &${node.source} above it`,
          hint: `define \`&${node.source}\` on a value before this line, or write the value here`,
        });
      }
    },
    Scalar(_, node) {
      // a NUL ends a C string: no path, image, model id or command can hold one, and it would be cut silently
      if (typeof node.value === 'string' && node.value.includes('\0')) {
        out.push({
          severity: 'error',
          code: 'nul-character',
          file,
          ...at(node.range?.[0]),
          path: '(values)',
          message: 'a value holds a NUL character (\\0)',
          hint: 'remove the \\0 escape or the NUL byte from the value',
          value: JSON.stringify(node.value.length > 60 ? `${node.value.slice(0, 57)}...` : node.value),
        });
      }
    },
    Pair(_, pair) {
      const key = pair.key;
      if (isScalar(key) && RESERVED_NAMES.has(String(key.value))) {
        out.push({
          severity: 'error',
          code: 'reserved-name',
          file,
          ...at(key.range?.[0]),
          path: '(keys)',
          message: `"${String(key.value)}" cannot be a key: it is reserved by JavaScript objects`,
          hint: 'rename or remove it (no pipeline field, name or LLaMA-Factory argument is called that)',
          value: JSON.stringify(String(key.value)),
        });
      }
    },
  });
  return out;
}

export function firstAlias(doc: Document): Node | undefined {
  let found: Node | undefined;
  visit(doc, {
    Alias(_, node) {
      found = node;
      return visit.BREAK;
    },
  });
  return found;
}
