import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadPipeline } from '../../src/pipeline/load.js';
import { containerView, hostView, manualView } from '../../src/backends/trainer-view.js';
import { buildPlan, type PlanOptions } from '../../src/planner/plan.js';
import type { Diagnostic } from '../../src/pipeline/diagnostics.js';
import type { Plan, TrainInstance } from '../../src/pipeline/plan-types.js';
import { Rig } from '../helpers/rig.js';

const rig = new Rig('plan');
let demo: string;
before(async () => {
  demo = await rig.demo();
});
after(() => rig.cleanup());

function plan(file: string, o: Partial<PlanOptions> = {}): { plan?: Plan; diags: Diagnostic[] } {
  const p = loadPipeline(file);
  if (!p.ok) return { diags: p.error };
  const r = buildPlan(p.value, { rounds: 3, runDir: rig.runDir, backend: 'docker', view: containerView(), dataProblems: 'error', ...o });
  return r.ok ? { plan: r.value.plan, diags: r.value.warnings } : { diags: r.error };
}

const trains = (p: Plan | undefined): TrainInstance[] => (p?.stages ?? []).filter((s): s is TrainInstance => s.kind === 'train');

function variant(edit: (y: string) => string): string {
  return rig.write(`pipelines/v${Math.random().toString(36).slice(2)}.yaml`, edit(rig.read('pipelines/demo.yaml')));
}

describe('plan', () => {
  it('hands checkpoints on across stages and rounds', () => {
    const { plan: p } = plan(demo);
    assert.ok(p);
    const by = new Map(p.stages.map((s) => [s.key, s]));
    assert.deepEqual(
      p.stages.map((s) => s.key),
      ['r1/proposer_sft', 'r1/proposer_dpo', 'r1/reasoner_dpo', 'r1/sample_pairs', 'r2/proposer_dpo', 'r2/reasoner_dpo', 'r2/sample_pairs', 'r3/proposer_dpo', 'r3/reasoner_dpo'],
    );
    const train = new Map(trains(p).map((s) => [s.key, s]));
    const model = (k: string) => train.get(k)?.model;
    assert.equal(model('r1/proposer_sft')?.kind, 'base');
    assert.deepEqual(model('r1/proposer_dpo'), { kind: 'stage', key: 'r1/proposer_sft', hostPath: join(rig.runDir, 'outputs/r1/proposer_sft') });
    assert.equal(model('r1/reasoner_dpo')?.kind, 'base');
    assert.equal((model('r2/proposer_dpo') as { key: string }).key, 'r1/proposer_dpo');
    assert.equal((model('r3/reasoner_dpo') as { key: string }).key, 'r2/reasoner_dpo');
    // the trainer sees container paths; the plan keeps the host paths too
    assert.equal(train.get('r2/proposer_dpo')?.args['model_name_or_path'], '/flux/run/outputs/r1/proposer_dpo');
    assert.equal(train.get('r2/proposer_dpo')?.args['output_dir'], '/flux/run/outputs/r2/proposer_dpo');
    // round 2 trains on the pairs the command stage of round 1 wrote, and waits for it
    const r2 = train.get('r2/proposer_dpo');
    assert.equal(r2?.datasets[0]?.name, 'dpo_proposer_r2');
    assert.equal(r2?.datasets[0]?.producedBy, 'r1/sample_pairs');
    assert.ok(r2?.dependsOn.includes('r1/sample_pairs'));
    assert.ok(r2?.dependsOn.includes('r1/proposer_dpo'));
    assert.equal(p.datasetInfo['dpo_proposer_r2']?.['file_name'], '/flux/run/outputs/r1/sample_pairs/dpo_proposer.jsonl');
    assert.equal(p.datasetInfo['dpo_proposer']?.['ranking'], true);
    // command stages get their inputs as environment variables
    assert.equal(by.get('r1/sample_pairs')?.env['FLUX_MODEL_PROPOSER'], '/flux/run/outputs/r1/proposer_dpo');
    assert.equal(by.get('r1/sample_pairs')?.env['FLUX_OUTPUT_DIR'], '/flux/run/outputs/r1/sample_pairs');
  });

  it('uses host paths for the local backend and run-relative paths for manual configs', () => {
    const host = plan(demo, { view: hostView, backend: 'local' }).plan;
    assert.equal(trains(host)[1]?.args['model_name_or_path'], join(rig.runDir, 'outputs/r1/proposer_sft'));
    assert.deepEqual(host?.mounts, []);
    const manual = plan(demo, { view: manualView, backend: 'local' }).plan;
    assert.equal(trains(manual)[1]?.args['model_name_or_path'], 'outputs/r1/proposer_sft');
    assert.equal(trains(manual)[1]?.args['dataset_dir'], '.');
  });

  it('adds the safety defaults visibly and lets the pipeline override them', () => {
    const p = plan(demo).plan;
    assert.equal(trains(p)[0]?.args['overwrite_output_dir'], false);
    assert.equal(trains(p)[0]?.args['save_total_limit'], 2); // the demo sets 2; the default is 3
    const q = plan(variant((y) => y.replace('  save_total_limit: 2\n', ''))).plan;
    assert.equal(trains(q)[0]?.args['save_total_limit'], 3);
  });

  it('refuses a stage that takes its model from a stage not running in that round', () => {
    const { diags } = plan(variant((y) => y.replace('model: {stage: proposer_dpo, round: previous, fallback: {stage: proposer_sft}}', 'model: {stage: proposer_sft}')));
    const d = diags.find((x) => x.code === 'reference');
    assert.ok(d, JSON.stringify(diags));
    assert.match(d.message, /round 2 takes its model from "proposer_sft" in round 2, but "proposer_sft" does not run there/);
    assert.ok(d.line > 0);
    const noFallback = plan(variant((y) => y.replace(', fallback: {base: tiny}', ''))).diags.find((x) => x.code === 'reference');
    assert.match(noFallback?.hint ?? '', /fallback/);
  });

  it('finds cycles', () => {
    const { diags } = plan(variant((y) => y.replace('model: {base: tiny}\n    datasets: [ReasonFlux-v2-sft]', 'model: {stage: proposer_dpo}\n    datasets: [ReasonFlux-v2-sft]').replace('rounds: [1]', 'rounds: all').replace('fallback: {stage: proposer_sft}', 'fallback: {stage: proposer_sft}').replace('model: {stage: proposer_dpo, round: previous, fallback: {stage: proposer_sft}}', 'model: {stage: proposer_sft}')));
    const d = diags.find((x) => x.code === 'cycle');
    assert.ok(d, JSON.stringify(diags));
    assert.match(d.message, /proposer_sft -> proposer_dpo -> proposer_sft|proposer_dpo -> proposer_sft -> proposer_dpo/);
  });

  it('refuses DPO on non-ranking data and SFT on preference data', () => {
    const a = plan(variant((y) => y.replace('datasets: [dpo_proposer]', 'datasets: [ReasonFlux-v2-sft]'))).diags.find((x) => x.code === 'dataset-stage');
    assert.match(a?.message ?? '', /needs preference data/);
    const b = plan(variant((y) => y.replace('datasets: [ReasonFlux-v2-sft]', 'datasets: [dpo_reasoner]'))).diags.find((x) => x.code === 'dataset-stage');
    assert.match(b?.message ?? '', /is preference data/);
  });

  it('reports a missing dataset file with its location', () => {
    const d = plan(variant((y) => y.replace('../.demo/data/sft.jsonl', '../.demo/data/nope.jsonl'))).diags.find((x) => x.code === 'missing-file');
    assert.ok(d);
    assert.match(d.message, /nope\.jsonl does not exist/);
    assert.equal(d.path, 'datasets.ReasonFlux-v2-sft.path');
    // a dry-run or config only warns
    const w = plan(variant((y) => y.replace('../.demo/data/sft.jsonl', '../.demo/data/nope.jsonl')), { dataProblems: 'warning' });
    assert.ok(w.plan);
    assert.equal(w.diags[0]?.severity, 'warning');
  });

  it('checks the first record against the declared format', () => {
    rig.write('.demo/data/share.jsonl', `${JSON.stringify({ conversations: [{ from: 'human', value: 'q' }, { from: 'gpt', value: 'a' }], chosen: { from: 'gpt', value: 'x' }, rejected: { from: 'gpt', value: 'y' } })}\n`);
    rig.write('.demo/data/alpaca-no-rejected.jsonl', `${JSON.stringify({ instruction: 'q', input: '', chosen: 'a' })}\n`);
    rig.write('.demo/data/sft-as-pairs.jsonl', `${JSON.stringify({ instruction: 'q', input: '', chosen: 'a', rejected: 'b' })}\n`);
    const sharegptAsAlpaca = plan(variant((y) => y.replace('../.demo/data/dpo_reasoner.jsonl', '../.demo/data/share.jsonl'))).diags;
    assert.match(sharegptAsAlpaca.map((d) => d.message).join('\n'), /looks like sharegpt.*declared alpaca/);
    const endsOnAssistant = plan(variant((y) => y.replace('../.demo/data/dpo_reasoner.jsonl', '../.demo/data/share.jsonl').replace('  dpo_reasoner:\n    ranking: true', '  dpo_reasoner:\n    formatting: sharegpt\n    ranking: true'))).diags;
    assert.match(endsOnAssistant.map((d) => d.message).join('\n'), /must end on a user turn/);
    const noRejected = plan(variant((y) => y.replace('../.demo/data/dpo_reasoner.jsonl', '../.demo/data/alpaca-no-rejected.jsonl'))).diags;
    assert.match(noRejected.map((d) => d.message).join('\n'), /rejected column "rejected" is missing/);
    const pairsForSft = plan(variant((y) => y.replace('../.demo/data/sft.jsonl', '../.demo/data/sft-as-pairs.jsonl'))).diags;
    assert.match(pairsForSft.map((d) => d.message).join('\n'), /declare `ranking: true`/);
    for (const d of [...sharegptAsAlpaca, ...noRejected]) assert.equal(d.code, 'dataset-format');
  });

  it('names unknown references with a suggestion', () => {
    const d = plan(variant((y) => y.replace('datasets: [dpo_proposer]', 'datasets: [dpo_propser]'))).diags.find((x) => x.code === 'reference');
    assert.match(d?.hint ?? '', /did you mean "dpo_proposer"/);
  });
});

describe('the GPU pool in the plan', () => {
  it("the CLI's --gpus is the pool; a stage's own gpus is what it asks of it; --gpus none leaves every stage without GPUs", () => {
    const file = variant((y) => y.replace('gpus: none\n', 'gpus: 0-7\nmax_parallel: 2\n').replace(/(\n  - id: reasoner_dpo\n {4}kind: train\n)/, '$1    gpus: "6,7"\n'));
    const gpusOf = (p: Plan | undefined, k: string) => p?.stages.find((s) => s.key === k)?.gpus;
    const fromFile = plan(file).plan;
    assert.equal(fromFile?.gpuPool, '0,1,2,3,4,5,6,7', 'ranges are expanded');
    assert.equal(fromFile?.maxParallel, 2);
    assert.equal(gpusOf(fromFile, 'r1/reasoner_dpo'), '6,7');
    assert.equal(gpusOf(fromFile, 'r1/proposer_sft'), '0,1,2,3,4,5,6,7', 'without its own gpus a stage asks for the whole pool');
    const cli = plan(file, { gpus: 4 }).plan;
    assert.equal(cli?.gpuPool, 4);
    assert.equal(gpusOf(cli, 'r1/reasoner_dpo'), '6,7', "the CLI's pool does not erase what a stage asks");
    assert.equal(gpusOf(cli, 'r1/proposer_sft'), 4);
    const none = plan(file, { gpus: 'none' }).plan;
    assert.ok(none?.stages.every((s) => s.gpus === 'none'));
  });
});

describe('the shipped ReasonFlux-V2 pipeline', () => {
  it('plans 7 stage instances for 3 rounds: SFT in round 1 only, each DPO from its own previous output', () => {
    const file = join(process.cwd(), 'pipelines', 'reasonflux-v2.yaml');
    const { plan: p, diags } = plan(file, { dataProblems: 'warning' });
    assert.ok(p, JSON.stringify(diags.filter((d) => d.severity === 'error')));
    assert.deepEqual(
      trains(p).map((s) => `${s.key}<-${s.model.kind === 'stage' ? s.model.key : s.model.ref}`),
      [
        'r1/proposer_sft<-Qwen/Qwen3-32B',
        'r1/proposer_dpo<-r1/proposer_sft',
        'r1/reasoner_dpo<-Qwen/Qwen3-32B',
        'r2/proposer_dpo<-r1/proposer_dpo',
        'r2/reasoner_dpo<-r1/reasoner_dpo',
        'r3/proposer_dpo<-r2/proposer_dpo',
        'r3/reasoner_dpo<-r2/reasoner_dpo',
      ],
    );
    // round 1 keeps the seed's dataset names; later rounds have their own files
    assert.deepEqual(trains(p).map((s) => s.args['dataset']), ['ReasonFlux-v2-sft', 'dpo_proposer', 'dpo_reasoner', 'dpo_proposer_r2', 'dpo_reasoner_r2', 'dpo_proposer_r3', 'dpo_reasoner_r3']);
    // the loop: every round serves both DPO outputs and has a miner and an evaluator talking to them
    assert.deepEqual(
      p.serves.map((s) => `${s.key}:${s.engine}:${s.model.kind === 'stage' ? s.model.key : ''}:${String(s.gpus)}`),
      [1, 2, 3].flatMap((r) => [`r${r}/proposer_server:sglang:r${r}/proposer_dpo:4`, `r${r}/reasoner_server:sglang:r${r}/reasoner_dpo:4`]),
    );
    const commands = p.stages.filter((s) => s.kind === 'command');
    assert.deepEqual(commands.map((s) => s.key), [1, 2, 3].flatMap((r) => [`r${r}/mine`, `r${r}/eval`]));
    for (const c of commands) assert.deepEqual(c.kind === 'command' ? c.endpoints.map((e) => e.serve) : [], [`r${c.round}/proposer_server`, `r${c.round}/reasoner_server`]);
    // rounds >= 2 train on what the previous round's miner wrote
    assert.deepEqual(trains(p).flatMap((s) => s.datasets.flatMap((d) => (d.producedBy ? [`${s.key}<-${d.producedBy}`] : []))), ['r2/proposer_dpo<-r1/mine', 'r2/reasoner_dpo<-r1/mine', 'r3/proposer_dpo<-r2/mine', 'r3/reasoner_dpo<-r2/mine']);
    for (const s of trains(p)) {
      assert.equal(s.env['FORCE_TORCHRUN'], '1', 'DeepSpeed needs torchrun');
      assert.equal(s.env['MASTER_PORT'], '29500');
    }
    assert.equal(new Set(p.stages.map((s) => s.outputDir)).size, p.stages.length, 'every instance has its own output dir');
  });
});

describe('hardening: DeepSpeed files and dataset paths (issue 10)', () => {
  const withDs = (v: string) => variant((y) => y.replace('  report_to: none\n', `  report_to: none\n  deepspeed: ${v}\n`));
  const dsDiag = (file: string): Diagnostic => {
    const r = plan(file);
    assert.equal(r.plan, undefined, 'the plan must be refused');
    const d = r.diags.find((x) => x.path === 'defaults.deepspeed');
    assert.ok(d, JSON.stringify(r.diags));
    return d;
  };

  it('refuses `deepspeed: .` at plan time (validate), not later in config or the dry run', () => {
    const d = dsDiag(withDs('.'));
    assert.match(d.message, /is a folder, not a file/);
    assert.match(d.hint, /z3_offload/);
  });

  it('refuses `deepspeed: /dev/zero` without reading it', () => {
    assert.match(dsDiag(withDs('/dev/zero')).message, /not a regular file \(a character device\)/);
  });

  it('refuses a DeepSpeed file that is not a JSON object (/etc/passwd, a list, too big)', () => {
    assert.match(dsDiag(withDs('/etc/passwd')).message, /is not JSON/);
    rig.write('pipelines/list.json', '[1, 2]\n');
    assert.match(dsDiag(withDs('list.json')).message, /holds a list, not a JSON object/);
    rig.write('pipelines/big.json', `{"pad": "${'x'.repeat(1024 * 1024)}"}`);
    assert.match(dsDiag(withDs('big.json')).message, /more than the 1048576 allowed/);
  });

  it('applies a per-stage `deepspeed:` (it was silently ignored) and copies that file', () => {
    rig.write('pipelines/ds-custom.json', '{"zero_optimization": {"stage": 2}}\n');
    const file = variant((y) => y.replace('    rounds: [1]\n', '    rounds: [1]\n    deepspeed: ds-custom.json\n'));
    const { plan: p, diags } = plan(file);
    assert.ok(p, JSON.stringify(diags));
    const sft = trains(p).find((s) => s.key === 'r1/proposer_sft');
    assert.equal(sft?.deepspeed?.source, rig.path('pipelines', 'ds-custom.json'));
    assert.equal(sft?.args['deepspeed'], '/flux/run/deepspeed/ds-custom.json');
    assert.equal(sft?.env['FORCE_TORCHRUN'], '1');
    assert.equal(trains(p).find((s) => s.key === 'r1/proposer_dpo')?.deepspeed, undefined, 'other stages keep theirs');
  });

  it('does not hang on a FIFO dataset file', { timeout: 20_000 }, () => {
    const fifo = rig.path('.demo', 'data', 'fifo.jsonl');
    execFileSync('mkfifo', [fifo]);
    const d = plan(variant((y) => y.replace('../.demo/data/sft.jsonl', '../.demo/data/fifo.jsonl'))).diags.find((x) => x.path === 'datasets.ReasonFlux-v2-sft.path');
    assert.match(d?.message ?? '', /is a FIFO, not a file or folder/);
    assert.equal(d?.severity, 'error');
  });

  it('suggests the near-identical file name beside a mistyped dataset path', () => {
    const d = plan(variant((y) => y.replace('../.demo/data/sft.jsonl', '../.demo/data/sfT.jsonl'))).diags.find((x) => x.code === 'missing-file');
    assert.match(d?.hint ?? '', /did you mean .*\.demo\/data\/sft\.jsonl\?/);
    assert.doesNotMatch(d?.hint ?? '', /fetch-datasets/);
  });

  it('gives a missing dataset the fix of where it comes from, not always scripts/fetch-datasets.sh', () => {
    const hint = (edit: (y: string) => string, path: string) => plan(variant(edit), { dataProblems: 'warning' }).diags.find((x) => x.code === 'missing-file' && x.path === path)?.hint ?? '';
    // demo data: its own script
    assert.match(hint((y) => y.replace('../.demo/data/sft.jsonl', '../.demo/gone/sft.jsonl'), 'datasets.ReasonFlux-v2-sft.path'), /make-demo-data\.mjs/);
    // a later round's file that nobody released
    const later = hint((y) => y.replace('default: {stage: sample_pairs, file: dpo_proposer.jsonl}', 'default: ../data/round{round}/dpo_proposer.jsonl'), 'datasets.dpo_proposer.source.default');
    assert.match(later, /round 2 data was never released: write it with a command stage of round 1/);
    assert.doesNotMatch(later, /fetch-datasets/);
    // the released data: the fetch script, with the hub id
    const released = hint((y) => y.replace('  ReasonFlux-v2-sft:\n    path: ../.demo/data/sft.jsonl', '  ReasonFlux-v2-sft:\n    hf_hub_id: Gen-Verse/ReasonFlux-V2-SFT\n    path: ../data/ReasonFlux-V2-SFT'), 'datasets.ReasonFlux-v2-sft.path');
    assert.match(released, /scripts\/fetch-datasets\.sh \(Gen-Verse\/ReasonFlux-V2-SFT\)/);
    // anything else: the path
    assert.match(hint((y) => y.replace('../.demo/data/sft.jsonl', '../elsewhere/mine.jsonl'), 'datasets.ReasonFlux-v2-sft.path'), /correct the path/);
  });
});
