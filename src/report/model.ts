import type { CauseCode } from '../run/causes.js';

/**
 * Everything the report page shows, extracted from a run dir (state.json, events.jsonl, each stage's
 * trainer_log.jsonl, the generated configs). Plain data: the HTML renderer is a pure function of it,
 * so the extraction is unit-tested without a browser and the page without a run.
 */
export interface ReportData {
  runDir: string;
  pipelineName: string;
  runId?: string;
  backend?: string;
  rounds?: number;
  generatedAt: string;
  /** set while a `round` process holds the run dir: the page is a snapshot of a run in progress */
  inProgress?: { pid: number; host: string; current?: string };
  curves: StageCurves[];
  timeline: Timeline;
  time: TimeAccount;
  graph: StageGraph;
  /** empty until stage instances write evaluation results; the page then has no metrics section */
  evals: EvalResult[];
  instances: InstanceDetails[];
  /** lines that could not be read, said on the page rather than failing the report */
  notes: string[];
}

export interface Point {
  step: number;
  value: number;
}

/** One attempt's stretch of a trainer_log.jsonl: a resumed attempt starts where its checkpoint was. */
export interface CurveSegment {
  /** the attempt that logged these steps; undefined when the log cannot be matched to one */
  attempt?: number;
  firstStep: number;
  lastStep: number;
  loss: Point[];
  /** a moving average of a long, noisy loss, computed before downsampling; drawn over the faint raw line */
  smooth?: Point[];
  lr: Point[];
  /** steps this attempt trained again because the previous one got past its checkpoint */
  redone?: { from: number; to: number; cause?: CauseCode };
}

export interface RoundCurve {
  key: string;
  round: number;
  totalSteps?: number;
  segments: CurveSegment[];
}

/** All rounds of one stage id, overlaid on one chart. */
export interface StageCurves {
  id: string;
  rounds: RoundCurve[];
}

export type BarKind = 'finished' | 'failed-transient' | 'failed-deterministic' | 'interrupted' | 'running' | 'detached';

export interface TimelineBar {
  key: string;
  attempt: number;
  /** ms since the timeline start */
  start: number;
  end: number;
  /** time between `starting` and the job being up (image start, Slurm queue): drawn lighter */
  launchEnd?: number;
  kind: BarKind;
  cause?: CauseCode;
  /** the one-line failure report */
  message?: string;
  reattached: boolean;
  resumeFrom?: number;
  /** an inference server's attempt (serve stage): up while its consumers ran, so never counted on its own in the time account */
  server?: true;
}

export interface Timeline {
  startMs: number;
  endMs: number;
  rows: string[];
  bars: TimelineBar[];
  /** each invocation of `round`/`resume`: [start, end] in ms since the timeline start */
  sessions: { start: number; end: number; ok?: boolean }[];
}

export interface LostTime {
  why: string;
  ms: number;
}

/** Where the wall-clock time of the run went. */
export interface TimeAccount {
  wallMs: number;
  usefulTrainingMs: number;
  commandMs: number;
  /** server-hours: every server attempt's time up, overlapping the consumers that used it */
  servingMs: number;
  lost: LostTime[];
  effectiveRatio?: number;
}

export type NodeStatus = 'pending' | 'running' | 'done' | 'failed' | 'interrupted' | 'blocked' | 'skipped';

export interface GraphNode {
  key: string;
  id: string;
  round: number;
  status: NodeStatus;
}

export interface GraphEdge {
  from: string;
  to: string;
  /** model: the checkpoint this stage starts from; data: a file it reads (e.g. sampled pairs) */
  kind: 'model' | 'data';
}

export interface StageGraph {
  ids: string[];
  rounds: number[];
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** base models, by the stage keys that start from them */
  bases: { ref: string; keys: string[] }[];
}

/**
 * Evaluation results of one stage instance, from the files LLaMA-Factory writes with do_eval /
 * do_predict (eval_results.json, predict_results.json) or `eval_*` keys of all_results.json.
 */
export interface EvalResult {
  key: string;
  id: string;
  round: number;
  source: string;
  metrics: Record<string, number>;
}

export interface InstanceDetails {
  key: string;
  id: string;
  round: number;
  kind: string;
  status: string;
  model?: string;
  datasets: string[];
  outputDir: string;
  configPath?: string;
  logPaths: string[];
  /** arguments that differ from the same stage id in the previous round (absent for the first round) */
  changed?: { name: string; before?: string; after?: string }[];
}
