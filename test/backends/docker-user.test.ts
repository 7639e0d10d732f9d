import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { containerUserEnv, parseContainerUser } from '../../src/backends/docker-user.js';
import { containersOf, dockerReady, removeContainers, Rig } from '../helpers/rig.js';

const me = process.getuid?.() ?? 0;
const asRoot = me === 0;
/** a uid that is not ours: the trainer's when flux-train runs as someone else */
const other = asRoot ? 1000 : me + 1;

describe('containers as any uid: the environment they get', () => {
  it('reads --user: root, a uid with or without a gid (Docker gives gid 0 then), a name', () => {
    assert.deepEqual(parseContainerUser(undefined), { kind: 'root' });
    assert.deepEqual(parseContainerUser('0:0'), { kind: 'root' });
    assert.deepEqual(parseContainerUser('root'), { kind: 'root' });
    assert.deepEqual(parseContainerUser('1000:1001'), { kind: 'uid', uid: 1000, gid: 1001, spec: '1000:1001' });
    assert.deepEqual(parseContainerUser('1000'), { kind: 'uid', uid: 1000, gid: 0, spec: '1000' });
    assert.deepEqual(parseContainerUser('trainer'), { kind: 'name', spec: 'trainer' });
  });

  it('a uid gets a HOME in the run dir, a user name and the cache folders; root gets nothing; the stage’s own env wins', () => {
    assert.deepEqual(containerUserEnv({ kind: 'root' }, {}), []);
    const env = Object.fromEntries(containerUserEnv(parseContainerUser('1000:1000'), { TRITON_CACHE_DIR: '/scratch/triton' }).map((kv) => kv.split('=') as [string, string]));
    assert.equal(env['HOME'], '/flux/run/.home/u1000');
    assert.equal(env['USER'], 'flux');
    assert.equal(env['MPLCONFIGDIR'], '/flux/run/.home/u1000/.config/matplotlib');
    assert.equal(env['TORCH_EXTENSIONS_DIR'], '/flux/run/.home/u1000/.cache/torch_extensions');
    assert.equal(env['TRITON_CACHE_DIR'], undefined, 'the stage sets it itself');
  });
});

const skip = await dockerReady();

describe('containers as another uid than flux-train’s, on a real Docker Engine', { skip }, () => {
  const rig = new Rig('docker-user');
  const round = (runDir: string, hf: string, extra: string[] = []) =>
    rig.cli(['round', '--n', '1', '--pipeline', 'pipelines/demo.yaml', '--run-dir', runDir, '--hf-cache', rig.path(hf), '--user', `${other}:${other}`, ...extra], {}, 300_000);
  before(async () => {
    await rig.demo();
  });
  after(async () => {
    for (const d of ['run-ok', 'run-hf', 'run-hf2', 'run-model']) await removeContainers(rig.path(d));
    rig.cleanup();
  });

  it('an HF cache the container uid cannot write stops the run before anything starts: exit 4 naming the host path, its owner and the fix', async () => {
    mkdirSync(rig.path('hf-theirs'), { mode: 0o755 });
    chmodSync(rig.path('hf-theirs'), 0o755);
    const r = await round('run-hf', 'hf-theirs');
    assert.equal(r.exitCode, 4, r.all);
    assert.match(r.stderr, new RegExp(`containers run as ${other}:${other} but cannot write ${rig.path('hf-theirs')} \\(Hugging Face cache shared by all stages\\): it belongs to uid ${me}, gid \\d+, mode 0755`));
    assert.match(r.stderr, new RegExp(`fix: chown -R ${other}:${other} ${rig.path('hf-theirs')}`));
    assert.deepEqual(await containersOf(rig.path('run-hf')), [], 'no container was started');
    assert.equal(existsSync(rig.path('run-hf', 'outputs', 'r1', 'proposer_sft')), false);
  });

  it('a model file the container uid cannot read (mode 0600, as safetensors writes it) is named before anything starts', { skip: asRoot ? false : 'needs root: our own files are readable by the default --user' }, async () => {
    const weights = rig.path('.demo', 'models', 'tiny-base', 'model.safetensors');
    chmodSync(weights, 0o600);
    try {
      const r = await round('run-model', 'hf-model');
      assert.equal(r.exitCode, 4, r.all);
      assert.match(r.stderr, new RegExp(`cannot read ${weights} .*it belongs to uid 0, gid 0, mode 0600`));
      assert.match(r.stderr, /fix: chmod -R a\+rX /);
    } finally {
      chmodSync(weights, 0o644);
    }
  });

  it('flux-train as root hands the run’s folders to the container uid: the stages write their outputs, HOME is in the run dir', { skip: asRoot ? false : 'needs root (only root can hand folders to another uid)' }, async () => {
    const r = await round('run-ok', 'hf-new');
    assert.equal(r.exitCode, 0, r.all);
    const outputs = rig.path('run-ok', 'outputs', 'r1');
    for (const k of readdirSync(outputs)) {
      assert.equal(statSync(join(outputs, k)).uid, other, `${k} belongs to the container uid`);
      const files = readdirSync(join(outputs, k));
      assert.ok(files.length > 0, k);
      for (const f of files) assert.equal(statSync(join(outputs, k, f)).uid, other, `${k}/${f} was written by the container uid`);
    }
    assert.equal(statSync(rig.path('hf-new')).uid, other, 'the HF cache flux-train created');
    assert.equal(statSync(rig.path('run-ok', '.home', `u${other}`)).uid, other, 'HOME of the containers');
    assert.equal(statSync(rig.path('run-ok')).uid, other, 'the run dir');
  });

  it('as root, an existing HF cache of root’s is not taken over: the error says so', { skip: asRoot ? false : 'needs root' }, async () => {
    mkdirSync(rig.path('hf-root'), { mode: 0o755 });
    chownSync(rig.path('hf-root'), 0, 0);
    writeFileSync(rig.path('hf-root', 'token'), 'x');
    const r = await round('run-hf2', 'hf-root');
    assert.equal(r.exitCode, 4, r.all);
    assert.match(r.stderr, /or pass --hf-cache DIR with a folder that uid may write/);
    assert.equal(statSync(rig.path('hf-root')).uid, 0, 'left as it was');
  });
});
