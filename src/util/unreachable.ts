/** Makes a switch exhaustive at compile time; reaching it at run time is a bug. */
export function unreachable(value: never, what = 'value'): never {
  throw new Error(`Internal error: unexpected ${what}: ${JSON.stringify(value)}`);
}
