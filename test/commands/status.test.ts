import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import { effectiveTrainingTimeRatio, lastEventOfSessions, stageRows } from '../../src/commands/status.js';
import type { RunState } from '../../src/state/state.js';
import { BIN, Rig } from '../helpers/rig.js';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

/** Two sessions: the first crashed at 100 s (its last event) without recording an end; the second ran 100..200 s. */
function crashedThenFinished(): RunState {
  return {
    schema: 1,
    sessions: [
      { startedAt: t(0), pid: 1, host: 'h' },
      { startedAt: t(100), pid: 2, host: 'h', endedAt: t(200), ok: true },
    ],
    stages: {
      'r1/b': { key: 'r1/b', status: 'done', attempts: [{ n: 1, startedAt: t(100), endedAt: t(200), lastStep: 10 }] },
      'r1/a': { key: 'r1/a', status: 'done', attempts: [{ n: 1, startedAt: t(0), endedAt: t(100), lastStep: 10 }] },
      'r2/a': { key: 'r2/a', status: 'pending', attempts: [] },
    },
  };
}

describe('status', () => {
  const rig = new Rig('status');
  after(() => rig.cleanup());

  // review of issues 10/11: `--pipeline /dev/zero` grew to 2.4 GB; a FIFO blocked forever
  for (const cmd of ['status', 'logs r1/a', 'report', 'repair', 'unlock']) {
    it(`${cmd} --pipeline refuses a device, a FIFO and a huge file with exit 2 and a fix`, async () => {
      const tag = cmd.replace(/\W/g, '');
      const fifo = rig.path(`p-${tag}.fifo`);
      await execa('mkfifo', [fifo]);
      const big = rig.path(`p-${tag}-big.yaml`);
      writeFileSync(big, `name: x\n#${'x'.repeat(2 * 1024 * 1024)}\n`);
      for (const [file, why] of [['/dev/zero', /not a regular file \(a character device\)/], [fifo, /not a regular file \(a FIFO\)/], [big, /more than the 1048576 allowed/]] as const) {
        const r = await rig.cli([...cmd.split(' '), '--pipeline', file], {}, 20_000);
        assert.equal(r.exitCode, 2, `${cmd} ${file}: ${r.all}`);
        assert.match(r.stderr, why);
        assert.match(r.stderr, /pass the pipeline YAML file itself with --pipeline/);
      }
    });
  }

  it('a crashed session ends at its last event, so the ratio of a finished run stays put as time passes', () => {
    const s = crashedThenFinished();
    const ends = [t(100), t(200)];
    const soon = effectiveTrainingTimeRatio(s, Date.parse(t(300)), ends);
    const later = effectiveTrainingTimeRatio(s, Date.parse(t(30_000)), ends);
    assert.equal(soon, 1);
    assert.equal(later, soon);
  });

  it('reads each session’s last event from the event log', () => {
    rig.write(
      'run/events.jsonl',
      [
        { type: 'run-started', ts: t(0), runId: 'r', pipeline: 'p.yaml', pipelineName: 'p', rounds: 1, backend: 'docker', image: 'i:1', pid: 1, host: 'h', argv: [] },
        { type: 'stage-starting', ts: t(50), key: 'r1/a', attempt: 1, fingerprint: 'f', fields: {} },
        { type: 'run-started', ts: t(100), runId: 'r', pipeline: 'p.yaml', pipelineName: 'p', rounds: 1, backend: 'docker', image: 'i:1', pid: 2, host: 'h', argv: [] },
        { type: 'run-finished', ts: t(200), ok: true, exitCode: 0, durationMs: 100_000, summary: '1 done' },
      ]
        .map((e) => JSON.stringify(e))
        .join('\n'),
    );
    assert.deepEqual(lastEventOfSessions(rig.runDir), [t(50), t(200)]);
  });

  it('lists stage instances in plan order, with times, output dir and log path', () => {
    const rows = stageRows(crashedThenFinished(), '/r');
    assert.deepEqual(
      rows.map((r) => r.key),
      ['r1/b', 'r1/a', 'r2/a'],
    );
    assert.equal(rows[0]?.startedAt, t(100));
    assert.equal(rows[0]?.endedAt, t(200));
    assert.equal(rows[0]?.outputDir, '/r/outputs/r1/b');
    assert.equal(rows[0]?.log, '/r/logs/r1-b.attempt1.log');
    assert.equal(rows[2]?.log, undefined);
  });

  it('does not call a run dir in use when the pid in its lock is dead', async () => {
    const s = crashedThenFinished();
    rig.write('run/state.json', JSON.stringify(s));
    // a pid far above pid_max is never alive
    rig.write('run/lock.json', JSON.stringify({ pid: 99_999_999, host: hostname(), startedAt: t(0), heartbeat: t(0), command: 'flux-train round --n 1' }));
    const r = await execa(process.execPath, [BIN, 'status', '--run-dir', rig.runDir], { reject: false });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /in use/);
    assert.match(r.stdout, /last run by pid 99999999 \(no longer running; its lock is stale/);
    const wide = await execa(process.execPath, [BIN, 'status', '--run-dir', rig.runDir, '--wide'], { reject: false });
    assert.match(wide.stdout, /started\s+ended\s+output dir\s+log/);
  });

  it('shows the metrics of eval stages by round, and status --json carries them per stage instance', async () => {
    const s = crashedThenFinished();
    const done = (metrics: Record<string, Record<string, number>>) => ({ fingerprint: 'f', fields: {}, manifest: [], finishedAt: t(300), durationMs: 1000, metrics });
    s.stages['r1/eval'] = { key: 'r1/eval', status: 'done', attempts: [{ n: 1, startedAt: t(200), endedAt: t(300) }], done: done({ aime24: { accuracy: 0.25, n: 4 } }) };
    s.stages['r2/eval'] = { key: 'r2/eval', status: 'done', attempts: [{ n: 1, startedAt: t(300), endedAt: t(400) }], done: done({ aime24: { accuracy: 0.5, n: 4 } }) };
    const dir = rig.path('metrics-run');
    rig.write('metrics-run/state.json', JSON.stringify(s));
    const json = await execa(process.execPath, [BIN, 'status', '--run-dir', dir, '--json'], { reject: false });
    assert.equal(json.exitCode, 0, json.stderr);
    const rows = (JSON.parse(json.stdout) as { stages: { key: string; metrics?: unknown }[] }).stages;
    assert.deepEqual(rows.find((r) => r.key === 'r1/eval')?.metrics, { aime24: { accuracy: 0.25, n: 4 } });
    assert.deepEqual(rows.find((r) => r.key === 'r2/eval')?.metrics, { aime24: { accuracy: 0.5, n: 4 } });
    assert.equal(rows.find((r) => r.key === 'r1/a')?.metrics, undefined);
    const text = await execa(process.execPath, [BIN, 'status', '--run-dir', dir], { reject: false });
    assert.equal(text.exitCode, 0, text.stderr);
    assert.match(text.stdout, /metrics by round:\n  round 1  eval  aime24\.accuracy 0\.2500  aime24\.n 4\n  round 2  eval  aime24\.accuracy 0\.5000  aime24\.n 4\n/);
  });

  it('refuses a state.json whose metrics are not numbers, naming where', async () => {
    const s = crashedThenFinished();
    s.stages['r1/eval'] = { key: 'r1/eval', status: 'done', attempts: [], done: { fingerprint: 'f', fields: {}, manifest: [], finishedAt: t(300), durationMs: 1, metrics: { aime24: { accuracy: 'x' as unknown as number } } } };
    const dir = rig.path('bad-metrics-run');
    rig.write('bad-metrics-run/state.json', JSON.stringify(s));
    const r = await execa(process.execPath, [BIN, 'status', '--run-dir', dir, '--json'], { reject: false });
    assert.notEqual(r.exitCode, 0);
    assert.notEqual(r.exitCode, 70);
    assert.match(r.stderr, /metrics/);
  });

  it('a real local run: an eval command stage writes metrics.json in 2 rounds; status, status --json and report.html show both, a bad one fails the stage', async () => {
    const yaml = (script: string) => `name: evals
llamafactory: {image: "hiyouga/llamafactory:0.9.5", version: 0.9.5}
models: {base: Qwen/Qwen3-0.6B}
datasets:
  sft: {path: sft.jsonl}
backend: local
stages:
  - id: evaluate
    kind: command
    command: [sh, -c, '${script}']
`;
    rig.write('sft.jsonl', '{"instruction": "q", "output": "a"}\n');
    // the round number from the output dir (.../outputs/r<N>/evaluate) becomes the accuracy 0.<N>
    const good = 'r=$(basename $(dirname $FLUX_OUTPUT_DIR)); printf "{\\"aime24\\": {\\"accuracy\\": 0.${r#r}, \\"n\\": 4}}" > $FLUX_OUTPUT_DIR/metrics.json';
    rig.write('evals-bad.yaml', yaml('echo "{\\"aime24\\": 0.5}" > $FLUX_OUTPUT_DIR/metrics.json'));
    const bad = await rig.cli(['round', '--n', '2', '--pipeline', 'evals-bad.yaml', '--run-dir', 'evals-run']);
    assert.equal(bad.exitCode, 1, bad.all);
    assert.match(bad.all, /r1\/evaluate.*the stage wrote a metrics\.json flux-train cannot read.*at aime24: expected/);
    rig.write('evals.yaml', yaml(good));
    const r = await rig.cli(['round', '--n', '2', '--pipeline', 'evals.yaml', '--run-dir', 'evals-run']);
    assert.equal(r.exitCode, 0, r.all);
    const dir = rig.path('evals-run');
    const json = await execa(process.execPath, [BIN, 'status', '--run-dir', dir, '--json'], { reject: false });
    const rows = (JSON.parse(json.stdout) as { stages: { key: string; metrics?: unknown }[] }).stages;
    assert.deepEqual(rows.map((x) => [x.key, x.metrics]), [['r1/evaluate', { aime24: { accuracy: 0.1, n: 4 } }], ['r2/evaluate', { aime24: { accuracy: 0.2, n: 4 } }]]);
    const text = await execa(process.execPath, [BIN, 'status', '--run-dir', dir], { reject: false });
    assert.match(text.stdout, /round 1  evaluate  aime24\.accuracy 0\.1000  aime24\.n 4\n  round 2  evaluate  aime24\.accuracy 0\.2000/);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    assert.match(html, /Evaluation by round/);
    assert.match(html, /aime24\.accuracy/);
  });
});

