import { accessSync, constants, mkdirSync, openSync, realpathSync, statSync, statfsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { FluxError } from '../util/errors.js';

/**
 * The run dir holds everything a run owns. These checks turn what the file system says about it
 * (a regular file in the way, a read-only mount, a symlink pointing elsewhere) into bad-input
 * errors that name the path and the fix, instead of an exception from deep inside a command.
 */

/** `--run-dir` as given (or the default), resolved; an empty value would silently mean the current dir. */
export function runDirOption(value: string | undefined, fallback: string): string {
  if (value !== undefined && value.trim() === '') {
    throw new FluxError('usage', '--run-dir is empty', 'pass a folder, e.g. --run-dir runs/reasonflux-v2 (leave the option out for the default)', 'bad-input');
  }
  return resolve(value ?? fallback);
}

/** Refuses a run dir that exists but is not a folder (reading never creates it). */
export function checkRunDirPath(runDir: string): void {
  let st;
  try {
    st = statSync(runDir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw notAFolder(runDir, 'a part of its path is a regular file');
    throw new FluxError('run-dir', `cannot use run dir ${runDir}: ${(e as Error).message}`, 'check the path and its permissions, or pass another --run-dir', 'bad-input', { cause: e });
  }
  if (!st.isDirectory()) throw notAFolder(runDir, 'it is a regular file');
}

/**
 * Refuses a folder of the run dir (logs/, outputs/r1, trash/) that exists as something else. A
 * missing one is fine: reading it finds nothing, writing creates it through `ensureDir`.
 */
export function checkFolder(dir: string, what: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw notAFolder(dir, 'a part of its path is a regular file', what);
    throw new FluxError('run-dir', `cannot use the ${what} ${dir}: ${(e as Error).message}`, 'check the path and its permissions', 'bad-input', { cause: e });
  }
  if (!st.isDirectory()) throw notAFolder(dir, 'it is a regular file', what);
}

/** Opens a file of the run dir (events.jsonl, flux-train.log) for appending; a folder in its place is bad input. */
export function openAppend(path: string, what: string): number {
  try {
    return openSync(path, 'a');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') {
      throw new FluxError('run-dir', `${what} ${path} is a folder, where flux-train keeps a file`, `move the folder out of the way (e.g. \`mv ${path} ${path}.moved\`), then rerun; nothing was run`, 'bad-input', { cause: e });
    }
    if (code === 'ENOTDIR') throw notAFolder(dirname(path), 'it, or a part of its path, is a regular file');
    throw new FluxError('run-dir', `cannot open ${what} ${path}: ${(e as Error).message}`, 'check the permissions of the run dir, or pass another --run-dir', 'bad-input', { cause: e });
  }
}

const notAFolder = (runDir: string, why: string, what = 'run dir') =>
  new FluxError(
    'run-dir',
    `${what} ${runDir} is not a folder (${why})`,
    what === 'run dir' ? 'pass a folder with --run-dir (a new one is created), or move the file out of the way' : `move the file out of the way (e.g. \`mv ${runDir} ${runDir}.moved\`); flux-train keeps a folder there`,
    'bad-input',
  );

/** Creates a folder (the run dir or one inside it), reporting a file in the way, a read-only mount or a permission problem as bad input. */
export function ensureDir(dir: string, what = 'run dir'): void {
  // asked first: Node's recursive mkdir never returns under /proc, and a known problem needs no attempt
  const known = writeProblem(dir);
  if (known !== undefined) throw cannotCreate(dir, what, known, `${known} on the nearest folder of its path that exists`, undefined);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    // a recursive mkdir can report ENOENT for a read-only mount: ask the nearest existing folder
    const code = writeProblem(dir) ?? (e as NodeJS.ErrnoException).code;
    throw cannotCreate(dir, what, code, (e as Error).message, e);
  }
}

function cannotCreate(dir: string, what: string, code: string | undefined, message: string, cause: unknown): FluxError {
  if (code === 'EEXIST' || code === 'ENOTDIR') return notAFolder(dir, 'it, or a part of its path, is a regular file', what);
  if (code === PSEUDO_FS) {
    return new FluxError('run-dir', `cannot create the ${what} ${dir}: it lies on /proc or /sys, the kernel's view of processes and devices, not a disk`, 'pass a folder on a real disk, e.g. --run-dir runs/my-run', 'bad-input');
  }
  const fix =
    code === 'EROFS'
      ? 'the file system is mounted read-only: pass a --run-dir on a writable disk'
      : code === 'EACCES' || code === 'EPERM'
        ? `you may not create it: pass a --run-dir you can write to, or fix the permissions of ${dirname(dir)}`
        : 'check the path and its permissions, or pass another --run-dir';
  return new FluxError('run-dir', `cannot create the ${what} ${dir}: ${message}`, fix, 'bad-input', cause === undefined ? undefined : { cause });
}

/** procfs and sysfs (statfs magic numbers): nothing flux-train writes belongs there */
const PSEUDO_FS_TYPES = new Set([0x9fa0, 0x62656572]);
const PSEUDO_FS = 'PSEUDO_FS';

/**
 * Why `dir` cannot be created or written, asked of the nearest folder that exists: a file in the
 * way (ENOTDIR), a pseudo file system (PSEUDO_FS), or the errno of a write-access check; undefined: none known.
 */
export function writeProblem(dir: string): string | undefined {
  let d = resolve(dir);
  for (;;) {
    try {
      if (!statSync(d).isDirectory()) return 'ENOTDIR';
      if (PSEUDO_FS_TYPES.has(statfsSync(d).type)) return PSEUDO_FS;
      accessSync(d, constants.W_OK);
      return undefined;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') return code;
      const parent = dirname(d);
      if (parent === d) return undefined;
      d = parent;
    }
  }
}

/** The real path of `p`, following symlinks on the part that exists; the rest is appended as written. */
function realPathOf(p: string): string {
  const abs = resolve(p);
  let existing = abs;
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(existing), ...rest.reverse());
    } catch {
      const parent = dirname(existing);
      if (parent === existing) return abs;
      rest.push(existing.slice(parent.length).replace(/^[/\\]+/, ''));
      existing = parent;
    }
  }
}

/**
 * Refuses a path that is, or resolves (through symlinks) to, somewhere outside the run dir: an
 * output dir, a trash or quarantine destination. A symlinked outputs/r1/<id> would otherwise make
 * flux-train move an outside folder in, or let the trainer write outside.
 */
export function assertInsideRunDir(runDir: string, path: string, what: string): void {
  const root = realPathOf(runDir);
  const lexical = relative(resolve(runDir), resolve(path));
  const real = realPathOf(path);
  const rel = relative(root, real);
  const outside = (r: string) => r === '..' || r.startsWith(`..${sep}`) || isAbsolute(r);
  if (outside(lexical) || outside(rel)) {
    throw new FluxError(
      'outside-run-dir',
      `${what} ${path} is outside the run dir ${runDir}${real !== resolve(path) ? ` (it resolves to ${real}, through a symlink)` : ''}; nothing was moved or written`,
      `flux-train only writes inside its run dir: replace the symlink ${path} (or the one above it) by a real folder, or move the run dir`,
      'bad-input',
    );
  }
}
