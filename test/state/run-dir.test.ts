import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertInsideRunDir, checkRunDirPath, ensureDir, runDirOption } from '../../src/state/run-dir.js';
import { isFluxError } from '../../src/util/errors.js';
import { Rig } from '../helpers/rig.js';
import { standinEnv } from '../helpers/standin-env.js';

const rig = new Rig('rundir');
after(() => rig.cleanup());

function throwsFlux(fn: () => void, re: RegExp): void {
  assert.throws(fn, (e: unknown) => isFluxError(e) && e.exitCode === 2 && re.test(e.message));
}

/** A read-only mount, where this user may mount one (root in CI); undefined otherwise. */
function readOnlyMount(): string | undefined {
  const dir = rig.path('ro');
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro', 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    return undefined;
  }
}

describe('run dir checks', () => {
  it('refuses an empty --run-dir instead of using the current folder', () => {
    throwsFlux(() => runDirOption('', 'x'), /--run-dir is empty/);
    throwsFlux(() => runDirOption('  ', 'x'), /--run-dir is empty/);
    assert.equal(runDirOption(undefined, '/a/b'), '/a/b');
  });

  it('refuses a run dir that is a regular file, or lies under one', () => {
    const f = rig.write('plain-file', 'x');
    throwsFlux(() => checkRunDirPath(f), /is not a folder/);
    throwsFlux(() => checkRunDirPath(join(f, 'sub')), /is not a folder/);
    throwsFlux(() => ensureDir(join(f, 'sub')), /is not a folder/);
    checkRunDirPath(rig.path('does-not-exist-yet'));
  });

  it('reports a run dir under a read-only mount as bad input', (t) => {
    const ro = readOnlyMount();
    if (!ro) return t.skip('cannot mount a read-only tmpfs here (needs root)');
    try {
      throwsFlux(() => ensureDir(join(ro, 'run')), /read-only/);
    } finally {
      execFileSync('umount', [ro]);
    }
  });

  it('refuses output paths that leave the run dir, through .. or a symlink', () => {
    const run = rig.path('contain', 'run');
    const outside = rig.path('contain', 'outside');
    mkdirSync(join(run, 'outputs', 'r1'), { recursive: true });
    mkdirSync(outside, { recursive: true });
    assertInsideRunDir(run, join(run, 'outputs', 'r1', 'fresh'), 'x');
    throwsFlux(() => assertInsideRunDir(run, join(run, '..', 'outside'), 'the output dir'), /outside the run dir/);
    symlinkSync(outside, join(run, 'outputs', 'r1', 'linked'));
    throwsFlux(() => assertInsideRunDir(run, join(run, 'outputs', 'r1', 'linked'), 'the output dir'), /through a symlink/);
    throwsFlux(() => assertInsideRunDir(run, join(run, 'outputs', 'r1', 'linked', 'checkpoint-4'), 'the checkpoint'), /outside the run dir/);
    // a run dir that is itself a symlink is fine: only what leaves it counts
    symlinkSync(run, rig.path('contain', 'run-link'));
    assertInsideRunDir(rig.path('contain', 'run-link'), join(rig.path('contain', 'run-link'), 'outputs', 'r1', 'fresh'), 'x');
  });
});

describe('run dir problems through the CLI (exit 2 with a fix, never a crash)', () => {
  let round: (runDir: string, extra?: string[], timeoutMs?: number) => ReturnType<Rig['cli']>;
  before(async () => {
    await rig.demo();
    const { env, keys } = await standinEnv(rig);
    round = (runDir, extra = [], timeoutMs = 120_000) => rig.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', runDir, '--backend', 'local', '--local-env', env, ...extra], { STANDIN_KEYS: keys }, timeoutMs);
  });

  const noCrash = (r: { exitCode?: number; all?: string }, code: number, re: RegExp) => {
    assert.equal(r.exitCode, code, r.all);
    assert.match(r.all ?? '', re);
    assert.doesNotMatch(r.all ?? '', /internal error|\n\s+at /);
  };

  it('refuses --run-dir "" in every command', async () => {
    for (const args of [['status'], ['repair'], ['unlock']]) noCrash(await rig.cli([...args, '--run-dir', '']), 2, /--run-dir is empty/);
    noCrash(await round(''), 2, /--run-dir is empty/);
    noCrash(await round('', ['--dry-run']), 2, /--run-dir is empty/);
  });

  it('refuses a --run-dir that is a regular file', async () => {
    rig.write('a-file', 'x');
    for (const args of [['status'], ['repair'], ['unlock']]) noCrash(await rig.cli([...args, '--run-dir', 'a-file']), 2, /not a folder/);
    noCrash(await round('a-file'), 2, /not a folder/);
    noCrash(await round('a-file', ['--dry-run']), 2, /not a folder/);
  });

  it('reports a new run dir under a read-only mount as bad input', async (t) => {
    const ro = readOnlyMount();
    if (!ro) return t.skip('cannot mount a read-only tmpfs here (needs root)');
    try {
      noCrash(await round(join(ro, 'run')), 2, /read-only/);
    } finally {
      execFileSync('umount', [ro]);
    }
  });

  it('repair refuses a run dir without a run and creates nothing', async () => {
    noCrash(await rig.cli(['repair', '--run-dir', 'no-such-run']), 2, /no flux-train run/);
    assert.equal(existsSync(rig.path('no-such-run')), false);
  });

  it('refuses misshapen state in status and round, naming flux-train repair', async () => {
    for (const [name, text] of [
      ['stages-null', '{"schema":1,"sessions":[],"stages":null}'],
      ['stage-5', '{"schema":1,"sessions":[],"stages":{"r1/proposer_sft":5}}'],
      ['sessions-5', '{"schema":1,"sessions":5,"stages":{}}'],
    ]) {
      rig.write(`shape-${name}/state.json`, text as string);
      noCrash(await rig.cli(['status', '--run-dir', `shape-${name}`]), 2, /flux-train repair/);
      noCrash(await round(`shape-${name}`, ['--dry-run']), 2, /flux-train repair/);
    }
  });

  it('runs past a lock.json holding null, {} or 42, with one warning', async () => {
    for (const [i, text] of ['null', '{}', '42'].entries()) {
      rig.write(`badlock${i}/lock.json`, text);
      const r = await round(`badlock${i}`, ['--only', 'proposer_sft']);
      assert.equal(r.exitCode, 0, r.all);
      assert.equal(r.all.match(/took over the lock/g)?.length, 1, r.all);
    }
  });

  it('refuses a symlinked output dir before anything is moved or written', async () => {
    const outside = rig.path('elsewhere');
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'precious.txt'), 'not flux-train’s');
    mkdirSync(rig.path('sym', 'outputs', 'r1'), { recursive: true });
    symlinkSync(outside, rig.path('sym', 'outputs', 'r1', 'proposer_sft'));
    for (const extra of [[], ['--dry-run']]) noCrash(await round('sym', extra), 2, /outputs\/r1\/proposer_sft is outside the run dir/);
    assert.deepEqual(readdirSync(outside), ['precious.txt']);
    assert.equal(existsSync(rig.path('sym', 'trash')), false);
  });

  /** the last event of a run dir's log */
  const lastEvent = (dir: string): { type: string; ok?: boolean; exitCode?: number; summary?: string } => {
    const lines = readFileSync(join(dir, 'events.jsonl'), 'utf8').trim().split('\n');
    return JSON.parse(lines.at(-1) as string) as { type: string };
  };
  let finished: string | undefined;
  /** a copy of one finished run, to break in one way */
  const copyOfFinished = async (name: string): Promise<string> => {
    if (finished === undefined) {
      const r = await round('finished-base');
      assert.equal(r.exitCode, 0, r.all);
      finished = rig.path('finished-base');
    }
    cpSync(finished, rig.path(name), { recursive: true });
    return rig.path(name);
  };

  it('records the end of a session a FluxError stopped inside the scheduler (trash a symlink out of the run dir)', async () => {
    const dir = await copyOfFinished('trash-link');
    mkdirSync(rig.path('trash-elsewhere'), { recursive: true });
    symlinkSync(rig.path('trash-elsewhere'), join(dir, 'trash'));
    noCrash(await round('trash-link', ['--restart-stage', 'r1/sample_pairs']), 2, /outside the run dir/);
    const last = lastEvent(dir);
    assert.equal(last.type, 'run-finished', JSON.stringify(last));
    assert.equal(last.ok, false);
    assert.equal(last.exitCode, 2);
    assert.match(last.summary ?? '', /outside the run dir/);
    assert.deepEqual(readdirSync(rig.path('trash-elsewhere')), []);
    assert.equal(existsSync(join(dir, 'lock.json')), false, 'the lock is released');
  });

  it('run-dir entries of the wrong type are bad input with a fix, and the lock is released', async () => {
    const cases: [string, (dir: string) => void, string[], RegExp][] = [
      ['logs-file', (d) => (rmSync(join(d, 'logs'), { recursive: true }), writeFileSync(join(d, 'logs'), 'x')), [], /logs .*not a folder/],
      ['outputs-file', (d) => (rmSync(join(d, 'outputs'), { recursive: true }), writeFileSync(join(d, 'outputs'), 'x')), [], /outputs.* is not a folder/],
      ['outputs-r1-file', (d) => (rmSync(join(d, 'outputs', 'r1'), { recursive: true }), writeFileSync(join(d, 'outputs', 'r1'), 'x')), [], /outputs\/r1.* is not a folder/],
      ['trash-file', (d) => writeFileSync(join(d, 'trash'), 'x'), ['--restart-stage', 'r1/sample_pairs'], /trash.* is not a folder/],
      ['events-dir', (d) => (rmSync(join(d, 'events.jsonl')), mkdirSync(join(d, 'events.jsonl'))), [], /events\.jsonl .*is a folder/],
      ['log-dir', (d) => (rmSync(join(d, 'flux-train.log')), mkdirSync(join(d, 'flux-train.log'))), [], /flux-train\.log .*is a folder/],
    ];
    for (const [name, breakIt, extra, re] of cases) {
      const dir = await copyOfFinished(`wrong-${name}`);
      breakIt(dir);
      noCrash(await round(`wrong-${name}`, extra), 2, re);
      assert.equal(existsSync(join(dir, 'lock.json')), false, `${name}: the lock is released`);
    }
    const logs = await rig.cli(['logs', 'proposer_sft', '--run-dir', 'wrong-logs-file']);
    noCrash(logs, 2, /logs .*not a folder/);
  });

  it('refuses /proc and /sys paths (a recursive mkdir there never returns) and unwritable ones', async () => {
    // a hang shows as a timeout (exit undefined), not as a stuck test
    noCrash(await rig.cli(['config', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--out', '/proc/flux-x'], {}, 20_000), 2, /\/proc\/flux-x/);
    noCrash(await round('/proc/flux-x', [], 20_000), 2, /\/proc\/flux-x/);
    noCrash(await round('/sys/flux-x/run', [], 20_000), 2, /\/sys\/flux-x/);
  });
});
