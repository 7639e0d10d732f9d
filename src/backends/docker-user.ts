import { chownSync, existsSync, lstatSync, mkdirSync, readdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { JobStage, Plan, PlanStage } from '../pipeline/plan-types.js';
import { CONTAINER_RUN_DIR } from './trainer-view.js';
import { FluxError } from '../util/errors.js';
import { err, ok, type Result } from '../util/result.js';

/**
 * Containers that run as any uid. An image has a passwd entry for root only, so a container started with
 * --user 1000:1000 gets HOME=/ and no user name: matplotlib, fontconfig, Triton and torch extensions then
 * fail or spam the log, and getpass.getuser() raises. And the bind-mounted run dir, output dirs and HF cache
 * are created by the invoking uid: a trainer as another uid fails at its first save, hours in.
 */

/** The uid and gid a container runs as, from --user; a name (no number) cannot be checked here. */
export type ContainerUser = { kind: 'root' } | { kind: 'uid'; uid: number; gid: number; spec: string } | { kind: 'name'; spec: string };

export function parseContainerUser(spec: string | undefined): ContainerUser {
  if (spec === undefined || spec === '' || spec === 'root' || /^0(:|$)/.test(spec)) return { kind: 'root' };
  const m = /^(\d+)(?::(\d+))?$/.exec(spec);
  // Docker gives a uid without a passwd entry the group 0 when no gid is named
  if (m) return { kind: 'uid', uid: Number(m[1]), gid: Number(m[2] ?? 0), spec };
  return { kind: 'name', spec };
}

const CONTAINER_HOME_ROOT = '.home';

/** host folder that is HOME for containers of this uid: in the run dir, so JIT caches survive attempts */
export function homeDirFor(runDir: string, uid: number): string {
  return join(runDir, CONTAINER_HOME_ROOT, `u${uid}`);
}

/**
 * Environment for a container that is not root: a writable HOME in the run dir, a user name, and the cache
 * folders Python tools pick (DeepSpeed's z3_offload JIT-compiles cpu_adam under TORCH_EXTENSIONS_DIR unless
 * the image prebuilds it). Variables the stage sets itself win.
 */
export function containerUserEnv(user: ContainerUser, stageEnv: Record<string, string>): string[] {
  if (user.kind !== 'uid') return [];
  const home = `${CONTAINER_RUN_DIR}/${CONTAINER_HOME_ROOT}/u${user.uid}`;
  const vars: Record<string, string> = {
    HOME: home,
    USER: 'flux',
    LOGNAME: 'flux',
    XDG_CACHE_HOME: `${home}/.cache`,
    MPLCONFIGDIR: `${home}/.config/matplotlib`,
    TRITON_CACHE_DIR: `${home}/.triton/cache`,
    TORCH_EXTENSIONS_DIR: `${home}/.cache/torch_extensions`,
  };
  return Object.entries(vars)
    .filter(([k]) => !(k in stageEnv))
    .map(([k, v]) => `${k}=${v}`);
}

const octal = (mode: number): string => `0${(mode & 0o7777).toString(8)}`;

/** what the mode bits grant this uid/gid (ACLs are not read; root is not checked) */
function grants(st: Stats, uid: number, gid: number, bits: number): boolean {
  const who = st.uid === uid ? 6 : st.gid === gid ? 3 : 0;
  return (((st.mode >> who) & 7) & bits) === bits;
}

function chownTree(path: string, uid: number, gid: number, depth: number): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  if (st.uid !== uid || st.gid !== gid) chownSync(path, uid, gid);
  if (st.isDirectory() && depth > 0) for (const e of readdirSync(path)) chownTree(join(path, e), uid, gid, depth - 1);
}

/**
 * The folders a container writes, and how deep below each one it writes into folders that may already
 * exist: the run dir (itself only), its HOME, each output dir of the stages to run (checkpoints are
 * rotated), the HF cache (datasets/, hub/, modules/).
 */
interface Target {
  path: string;
  what: string;
  /** flux-train's own territory: root hands it over whatever it holds */
  insideRun: boolean;
  depth: number;
}

function writableTargets(plan: Plan, toRun: PlanStage[], uid: number): Target[] {
  const t: Target[] = [
    { path: plan.runDir, what: 'the run dir', insideRun: true, depth: 0 },
    { path: homeDirFor(plan.runDir, uid), what: 'the containers’ HOME', insideRun: true, depth: 4 },
  ];
  for (const s of toRun) t.push({ path: s.outputDir, what: `the output dir of ${s.key}`, insideRun: true, depth: 8 });
  for (const m of plan.mounts) if (m.mode === 'rw' && m.host !== plan.runDir) t.push({ path: m.host, what: m.what, insideRun: false, depth: 2 });
  return t;
}

/**
 * Before any GPU is claimed: can the container's uid write what it must write, and read the models and
 * datasets? flux-train running as root hands the folders it creates (and everything in the run dir) to
 * that uid; anything else that does not fit is an error naming the host path, its owner and the fix.
 */
export function prepareForContainerUser(plan: Plan, toRun: PlanStage[], user: ContainerUser): Result<string[], FluxError> {
  try {
    return checkAndHandOver(plan, toRun, user);
  } catch (e) {
    // mkdir or chown refused (a read-only or foreign file system): say where, not a stack trace
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    const path = (e as NodeJS.ErrnoException).path ?? plan.runDir;
    return err(
      new FluxError('container-dirs', `could not prepare ${path} for the containers' uid (${user.kind === 'uid' ? user.spec : 'root'}): ${code}`, `check that ${path} can be created and changed by you, or pass --run-dir/--hf-cache elsewhere`, 'environment', { cause: e }),
    );
  }
}

function checkAndHandOver(plan: Plan, toRun: PlanStage[], user: ContainerUser): Result<string[], FluxError> {
  if (user.kind === 'root') return ok([]);
  if (user.kind === 'name') return ok([`containers run as "${user.spec}", a name flux-train cannot map to a uid: the run dir, output dirs and HF cache are not checked for it (pass --user UID:GID to have them checked)`]);
  const { uid, gid } = user;
  const amRoot = process.getuid?.() === 0;
  const targets = writableTargets(plan, toRun, uid);
  for (const t of targets) {
    const existed = existsSync(t.path);
    // the output dirs are made by the scheduler just before each start (handOver takes them then)
    if (!existed && t.what.startsWith('the output dir')) continue;
    mkdirSync(t.path, { recursive: true });
    if (amRoot && (t.insideRun || !existed)) chownTree(t.path, uid, gid, t.depth);
    const bad = firstNotGranted(t.path, uid, gid, 0o3, t.depth, 'dirs');
    if (bad) {
      return err(
        new FluxError(
          'container-cannot-write',
          `the containers run as ${user.spec} but cannot write ${bad.path} (${t.what}): it belongs to uid ${bad.st.uid}, gid ${bad.st.gid}, mode ${octal(bad.st.mode)}`,
          t.insideRun
            ? `chown -R ${uid}:${gid} ${bad.path}, or run flux-train as root (it hands the run dir's folders to the container uid), or pass --user ${bad.st.uid}:${bad.st.gid}`
            : `chown -R ${uid}:${gid} ${bad.path}, or pass --hf-cache DIR with a folder that uid may write (flux-train hands a folder it creates to that uid when it runs as root), or --user ${bad.st.uid}:${bad.st.gid}`,
          'environment',
          { evidence: [`container uid ${uid}, gid ${gid}; host path ${bad.path}; owner ${bad.st.uid}:${bad.st.gid}; mode ${octal(bad.st.mode)}`] },
        ),
      );
    }
  }
  for (const m of plan.mounts) {
    if (m.mode !== 'ro' || !existsSync(m.host)) continue;
    const bad = firstNotGranted(m.host, uid, gid, 0o4, 6, 'all');
    if (bad) {
      return err(
        new FluxError(
          'container-cannot-read',
          `the containers run as ${user.spec} but cannot read ${bad.path} (in ${m.what}): it belongs to uid ${bad.st.uid}, gid ${bad.st.gid}, mode ${octal(bad.st.mode)}`,
          `chmod -R a+rX ${m.host} (or chown it to ${uid}:${gid}), or pass --user ${bad.st.uid}:${bad.st.gid}`,
          'environment',
          { evidence: [`container uid ${uid}, gid ${gid}; host path ${bad.path}; owner ${bad.st.uid}:${bad.st.gid}; mode ${octal(bad.st.mode)}`] },
        ),
      );
    }
  }
  return ok([]);
}

/** The first entry under path (itself included) whose mode bits deny the uid: read or write, and search on dirs. */
function firstNotGranted(path: string, uid: number, gid: number, want: number, depth: number, which: 'dirs' | 'all', budget = { left: 20_000 }): { path: string; st: Stats } | undefined {
  if (--budget.left < 0) return undefined;
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    return undefined; // a dangling link: the trainer reports it better
  }
  const isDir = st.isDirectory();
  if (isDir || which === 'all') {
    const bits = isDir ? want | 0o1 : want & 0o4;
    if (!grants(st, uid, gid, bits)) return { path, st };
  }
  if (!isDir || depth <= 0 || lstatSync(path).isSymbolicLink()) return undefined;
  for (const e of readdirSync(path)) {
    const bad = firstNotGranted(join(path, e), uid, gid, want, depth - 1, which, budget);
    if (bad) return bad;
  }
  return undefined;
}

/** Called right before a container starts: the scheduler has just made the stage's output dir as the invoking uid. */
export function handOverOutputDir(stage: JobStage, user: ContainerUser): string | undefined {
  if (user.kind !== 'uid' || process.getuid?.() !== 0 || !existsSync(stage.outputDir)) return undefined;
  try {
    chownTree(stage.outputDir, user.uid, user.gid, 64);
    return undefined;
  } catch (e) {
    return `could not hand ${stage.outputDir} to uid ${user.uid}: ${(e as Error).message}`;
  }
}
