import { join, resolve } from 'node:path';
import type { Diagnostic, Locator, PathSegment } from '../pipeline/diagnostics.js';
import { checkRecord, firstDataFile, missingDataHint, readFirstRecord, type MissingContext } from '../pipeline/dataset-check.js';
import type { PlanDataset } from '../pipeline/plan-types.js';
import type { DatasetSourceOne, DatasetSpec, TrainStage } from '../pipeline/schema.js';
import { datasetInfoEntry } from '../llamafactory/dataset-info.js';
import { suggestFrom } from '../llamafactory/keys.js';
import { own } from '../util/own.js';
import type { StageCatalog } from './catalog.js';
import { outputDirOf, stageKey } from './keys.js';
import type { TrainerView } from './trainer-view.js';

/** What planning a dataset needs: the declarations, the stages that may write it, and the trainer's view. */
export interface DatasetScope {
  datasets: Record<string, DatasetSpec>;
  baseDir: string;
  runDir: string;
  catalog: StageCatalog;
  loc: Locator;
  view: TrainerView;
  /** file problems are errors (validate, round) or warnings (config, dry run) */
  dataProblems: 'error' | 'warning';
}

/**
 * dataset_info.json as it is built, one entry per distinct file: the first use of a declared dataset
 * keeps its name, a later round's own file becomes `<name>_r<round>`. Each file is checked once.
 */
export class DatasetTable {
  readonly info: Record<string, Record<string, unknown>> = {};
  readonly #names = new Map<string, string>(); // host path -> dataset_info name
  readonly #checked = new Set<string>();

  nameFor(hostPath: string, declared: string, round: number): string {
    let name = this.#names.get(hostPath);
    if (name === undefined) {
      name = Object.hasOwn(this.info, declared) ? `${declared}_r${round}` : declared;
      this.#names.set(hostPath, name);
    }
    return name;
  }

  /** true the first time a file is seen */
  firstCheck(hostPath: string): boolean {
    if (this.#checked.has(hostPath)) return false;
    this.#checked.add(hostPath);
    return true;
  }
}

/** One dataset of a train stage instance: where its file is, who writes it, and its dataset_info entry. */
export function planDataset(scope: DatasetScope, table: DatasetTable, name: string, round: number, owner: TrainStage, at: PathSegment[]): { dataset?: PlanDataset; diags: Diagnostic[] } {
  const { loc } = scope;
  const d = own(scope.datasets, name);
  if (!d) {
    const declared = Object.keys(scope.datasets);
    const guess = suggestFrom(declared, name);
    return { diags: [loc.diag('reference', at, `unknown dataset "${name}"`, guess ? `did you mean "${guess}"?` : `declare it under \`datasets:\` (declared: ${declared.join(', ') || 'none'})`)] };
  }
  const diags = rankingMismatch(loc, d, name, owner, at);
  const found = sourceFor(d, name, round);
  if (!found) {
    diags.push(loc.diag('dataset-source', ['datasets', name], `dataset "${name}" has no file for round ${round}`, 'give it a `path:` or a `source:` with this round or `default:`'));
    return { diags };
  }
  const { src, at: srcAt } = found;
  const file =
    typeof src === 'string'
      ? fileSource(scope, table, d, src, srcAt, round)
      : 'path' in src
        ? fileSource(scope, table, d, src.path, srcAt, round)
        : producedSource(scope, src, srcAt, name, round);
  diags.push(...file.diags);
  if (!file.hostPath) return { diags };
  const { hostPath, producedBy } = file;
  const infoName = table.nameFor(hostPath, name, round);
  const trainerPath = producedBy !== undefined ? scope.view.runPath(hostPath) : scope.view.inputPath(hostPath, 'datasets', `dataset ${name}`);
  const info = datasetInfoEntry(d, trainerPath);
  table.info[infoName] = info;
  return { dataset: { name: infoName, declared: name, hostPath, trainerPath, info, ...(producedBy ? { producedBy } : {}) }, diags };
}

function rankingMismatch(loc: Locator, d: DatasetSpec, name: string, owner: TrainStage, at: PathSegment[]): Diagnostic[] {
  const needsRanking = owner.stage === 'dpo' || owner.stage === 'rm';
  if (needsRanking === d.ranking) return [];
  const lf = '(LLaMA-Factory: "The dataset is not applicable in the current training stage.")';
  return [
    loc.diag(
      'dataset-stage',
      at,
      needsRanking
        ? `stage "${owner.id}" is ${owner.stage}, which needs preference data, but dataset "${name}" is not declared \`ranking: true\` ${lf}`
        : `stage "${owner.id}" is ${owner.stage}, but dataset "${name}" is preference data (\`ranking: true\`) ${lf}`,
      needsRanking ? `use a preference dataset with chosen/rejected and \`ranking: true\`` : 'use a non-ranking dataset for this stage, or change the stage to dpo',
    ),
  ];
}

interface FoundSource {
  src: DatasetSourceOne;
  at: PathSegment[];
}

/** The source of a dataset in a round: `source.<round>`, then `source.default`, then `path`. */
function sourceFor(d: DatasetSpec, name: string, round: number): FoundSource | undefined {
  if (d.source) {
    const exact = own(d.source, String(round));
    if (exact !== undefined) return { src: exact, at: ['datasets', name, 'source', String(round)] };
    const dflt = own(d.source, 'default');
    if (dflt !== undefined) return { src: dflt, at: ['datasets', name, 'source', 'default'] };
  }
  if (d.path !== undefined) return { src: d.path, at: ['datasets', name, 'path'] };
  return undefined;
}

interface FileResult {
  hostPath?: string;
  producedBy?: string;
  diags: Diagnostic[];
}

/** A file on this host: its first record is checked against the declaration, once per file. */
function fileSource(scope: DatasetScope, table: DatasetTable, d: DatasetSpec, path: string, at: PathSegment[], round: number): FileResult {
  const hostPath = resolve(scope.baseDir, path.replaceAll('{round}', String(round)));
  if (!table.firstCheck(hostPath)) return { hostPath, diags: [] };
  const declaredFor = at[2] === 'source' ? String(at[3]) : 'path';
  const problems = checkDatasetFile(hostPath, d, { round, declaredFor, ...(d.hf_hub_id !== undefined ? { hfHubId: d.hf_hub_id } : {}) });
  const isDataProblem = (code: string) => code === 'missing-file' || code === 'dataset-format' || code === 'unreadable';
  return { hostPath, diags: problems.map((pr) => scope.loc.diag(pr.code, at, pr.message, pr.hint, { severity: isDataProblem(pr.code) ? scope.dataProblems : 'error' })) };
}

/** A file a command stage instance writes into its output dir. */
function producedSource(scope: DatasetScope, src: Extract<DatasetSourceOne, { stage: string }>, at: PathSegment[], name: string, round: number): FileResult {
  const { catalog, loc } = scope;
  const producer = catalog.byId.get(src.stage);
  const prodRound = src.round === 'previous' ? round - 1 : round;
  if (!producer) {
    const guess = suggestFrom(catalog.ids, src.stage);
    return { diags: [loc.diag('reference', [...at, 'stage'], `dataset "${name}" comes from unknown stage "${src.stage}"`, guess ? `did you mean "${guess}"?` : 'name a command stage')] };
  }
  if (producer.spec.kind !== 'command') {
    return { diags: [loc.diag('reference', [...at, 'stage'], `dataset "${name}" comes from "${src.stage}", which is not a command stage`, 'datasets can be written by command stages only')] };
  }
  if (prodRound < 1 || !catalog.runsIn(src.stage, prodRound)) {
    const hint = `give round ${round} its own file (\`source: {${round}: path}\`) or make "${src.stage}" run in round ${prodRound}`;
    return { diags: [loc.diag('reference', [...at, 'stage'], `dataset "${name}" for round ${round} comes from "${src.stage}" in round ${prodRound}, which does not run there`, hint)] };
  }
  const diags: Diagnostic[] = [];
  if (!producer.spec.outputs.includes(src.file)) {
    diags.push(loc.diag('reference', [...at, 'file'], `"${src.stage}" does not declare "${src.file}" in its \`outputs:\``, `add "${src.file}" to the outputs of "${src.stage}" so it is checked before use`));
  }
  return { hostPath: join(outputDirOf(scope.runDir, prodRound, src.stage), src.file), producedBy: stageKey(prodRound, src.stage), diags };
}

function checkDatasetFile(hostPath: string, spec: DatasetSpec, ctx: MissingContext) {
  const file = firstDataFile(hostPath);
  if (!file.ok) return [file.error.code === 'missing-file' && !file.error.message.endsWith('is empty') ? { ...file.error, hint: missingDataHint(hostPath, ctx) } : file.error];
  const rec = readFirstRecord(file.value);
  if (!rec.ok) return [rec.error];
  if (rec.value === undefined) return [];
  return [...new Set(checkRecord(spec, rec.value))].map((m) => ({
    code: 'dataset-format' as const,
    message: `first record of ${file.value} does not match the declaration (formatting: ${spec.formatting}, ranking: ${spec.ranking}): ${m}`,
    hint: 'fix `formatting`, `ranking`, `columns` or `tags` of this dataset to match the file (see README "Datasets")',
  }));
}
