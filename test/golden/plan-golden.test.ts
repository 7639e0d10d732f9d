// The plan as the user sees it, pinned byte for byte: `round --n 3 --dry-run --json` (for each backend's
// view of paths) and every file `config --n 3 --out DIR` writes, for every shipped pipeline. A refactor of
// the planner or of the plan types must leave these identical. UPDATE_GOLDEN=1 rewrites the files.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { projectRoot } from '../../src/util/project-root.js';
import { Rig } from '../helpers/rig.js';

const GOLDEN = join(projectRoot, 'test', 'golden', 'fixtures');
const update = process.env['UPDATE_GOLDEN'] === '1';
const pipelines = readdirSync(join(projectRoot, 'pipelines'))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.replace(/\.yaml$/, ''))
  .sort();
const backends = ['docker', 'local', 'slurm'] as const;

const rig = new Rig('golden');
// a home of its own: the default Hugging Face cache (~/.cache/huggingface) is then inside the rig
const env = { HOME: rig.path('home'), FLUX_TRAIN_RENDERER: 'plain' };

before(async () => {
  cpSync(join(projectRoot, 'pipelines'), rig.path('pipelines'), { recursive: true });
  mkdirSync(rig.path('home'));
  // the data the demo and tiny pipelines read; reasonflux-v2's released data stays missing (a warning in a dry run)
  const make = join(projectRoot, 'scripts', 'make-demo-data.mjs');
  await execa(process.execPath, [make, rig.path('.demo')]);
  for (const tiny of ['tiny-cpu', 'tiny-gpu']) {
    const dir = rig.path('.cache', tiny);
    await execa(process.execPath, [make, dir, '--records', '16']);
    for (const r of [2, 3]) {
      mkdirSync(join(dir, 'data', `round${r}`), { recursive: true });
      for (const f of ['dpo_proposer', 'dpo_reasoner']) {
        writeFileSync(join(dir, 'data', `round${r}`, `${f}.jsonl`), readFileSync(join(dir, 'data', `${f}.jsonl`), 'utf8').replaceAll('Problem', `Round ${r} problem`));
      }
    }
  }
});
after(() => rig.cleanup());

/** Only what depends on this machine: the rig's folder, the checkout's folder, and the hash of a mounted host path. */
function normalise(text: string): string {
  let t = text;
  for (const root of new Set([realpathSync(rig.dir), rig.dir])) t = t.replaceAll(root, '<ROOT>');
  t = t.replaceAll(projectRoot.replace(/\/$/, ''), '<PROJECT>');
  return t.replace(/\/flux\/(datasets|models|tools|pipeline)\/[0-9a-f]{8}\//g, '/flux/$1/<sha8>/');
}

/** Compares (or, with UPDATE_GOLDEN=1, writes) a set of files under one golden folder. */
function matchGolden(folder: string, files: Map<string, string>): void {
  const dir = join(GOLDEN, folder);
  if (update) {
    rmSync(dir, { recursive: true, force: true });
    for (const [rel, text] of files) {
      mkdirSync(dirname(join(dir, rel)), { recursive: true });
      writeFileSync(join(dir, rel), text);
    }
    return;
  }
  const expected = listFiles(dir);
  assert.deepEqual([...files.keys()].sort(), expected, `the files of ${folder} differ from the golden ones (UPDATE_GOLDEN=1 rewrites them after a deliberate change)`);
  for (const [rel, text] of files) assert.equal(text, readFileSync(join(dir, rel), 'utf8'), `${folder}/${rel} differs from the golden file`);
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe('golden plan: round --n 3 --dry-run --json', () => {
  for (const name of pipelines) {
    it(`${name}: the same plan for every backend's view of paths`, async () => {
      const files = new Map<string, string>();
      for (const backend of backends) {
        const r = await rig.cli(['round', '--n', '3', '--dry-run', '--json', '--pipeline', `pipelines/${name}.yaml`, '--backend', backend], env);
        assert.equal(r.exitCode, 0, r.all);
        const plan = JSON.parse(r.stdout) as { mounts: { host: string; container: string }[] };
        // the one part normalise() hides: a mount's folder is named by the hash of its host path
        for (const m of plan.mounts) {
          const h = /^\/flux\/(?:datasets|models)\/([0-9a-f]{8})\//.exec(m.container)?.[1];
          if (h !== undefined) assert.equal(h, createHash('sha256').update(m.host).digest('hex').slice(0, 8), m.container);
        }
        files.set(`${backend}.json`, normalise(r.stdout));
      }
      matchGolden(join('dry-run', name), files);
    });
  }
});

describe('golden plan: config --n 3 --out DIR', () => {
  for (const name of pipelines) {
    it(`${name}: every file written, and what it prints`, async () => {
      const out = rig.path('cfg', name);
      const r = await rig.cli(['config', '--n', '3', '--pipeline', `pipelines/${name}.yaml`, '--out', out], env);
      assert.equal(r.exitCode, 0, r.all);
      const files = new Map<string, string>([['_stdout.txt', normalise(r.stdout)]]);
      for (const rel of listFiles(out)) files.set(`out/${rel}`, normalise(readFileSync(join(out, rel), 'utf8')));
      matchGolden(join('config', name), files);
    });
  }
});
