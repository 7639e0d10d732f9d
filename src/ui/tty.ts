import { Listr, type ListrTaskWrapper, type DefaultRenderer, type SimpleRenderer } from 'listr2';
import type { Plan } from '../pipeline/plan-types.js';
import type { RunEvent } from '../run/events.js';
import { eventLine, formatDuration, formatProgress, RunSummary } from './format.js';
import { useFrameUpdater } from './frame.js';
import type { Renderer } from './renderer.js';

const NOT_REACHED = 'not reached';

type Task = ListrTaskWrapper<unknown, typeof DefaultRenderer, typeof SimpleRenderer>;

/** How a stage instance ended, as far as the view is concerned. */
type Ending = { kind: 'ok'; title: string } | { kind: 'skip'; message: string } | { kind: 'error'; message: string };

/**
 * One stage instance in the tree. The scheduler and listr2 run on their own clocks: an event may
 * arrive before listr2 has started the task (a skipped stage is decided at once), so every slot is
 * created up front, its ending is a plain value, and the task applies it whenever it starts.
 */
class Slot {
  task: Task | undefined;
  ending: Ending | undefined;
  output: string | undefined;
  readonly settled: Promise<void>;
  #wake: () => void = () => undefined;

  constructor(readonly title: string) {
    this.settled = new Promise<void>((resolve) => (this.#wake = resolve));
  }

  end(e: Ending): void {
    if (this.ending) return;
    this.ending = e;
    this.#wake();
  }

  say(text: string): void {
    this.output = text;
    if (this.task && !this.ending) this.task.output = text;
  }

  /** listr2's task body: shows what is known now, then waits for the ending and applies it. */
  async run(t: Task): Promise<void> {
    this.task = t;
    if (!this.ending) t.output = this.output ?? 'waiting';
    await this.settled;
    const e = this.ending as Ending;
    switch (e.kind) {
      case 'ok':
        t.title = e.title;
        return;
      case 'skip':
        t.skip(e.message);
        return;
      case 'error':
        throw new Error(e.message);
    }
  }
}

/** The live tree for a terminal: rounds, then stages, with step/total, loss, lr and ETA; a summary at the end. */
export class TtyRenderer implements Renderer {
  #slots = new Map<string, Slot>();
  /** the instances running now, by key: several run at once with --max-parallel */
  readonly #running = new Map<string, Slot>();
  #done: Promise<unknown>;
  #summary: RunSummary;

  constructor(
    plan: Plan,
    private readonly write: (text: string) => void = (t) => process.stdout.write(t),
  ) {
    this.#summary = new RunSummary(plan.runDir);
    for (const s of plan.stages) this.#slots.set(s.key, new Slot(`${s.id} (${s.kind === 'train' ? s.stage : 'command'})`));
    const rounds = [...new Set(plan.stages.map((s) => s.round))];
    const list = new Listr(
      rounds.map((r) => ({
        title: `round ${r}`,
        task: (_ctx: unknown, task: Task) => {
          const slots = plan.stages.filter((s) => s.round === r).map((s) => this.#slots.get(s.key) as Slot);
          // a round the run never got to is one line, not a list of "not reached"
          if (slots.every((x) => x.ending?.kind === 'skip' && x.ending.message.endsWith(NOT_REACHED))) {
            task.skip(`round ${r}: ${NOT_REACHED}`);
            return;
          }
          return task.newListr(
            slots.map((slot) => ({ title: slot.title, task: (_c: unknown, t: Task) => slot.run(t) })),
            // side by side: every instance of the round has its line at once, the running ones with their progress
            { concurrent: true, exitOnError: false },
          );
        },
      })),
      {
        concurrent: false,
        exitOnError: false,
        // flux-train owns Ctrl-C: listr2's own handler would exit(127) and leave the job and the lock behind
        registerSignalListeners: false,
        renderer: 'default',
        rendererOptions: { collapseSubtasks: false, showErrorMessage: true, collapseErrors: false },
      },
    );
    this.#done = list.run().catch(() => undefined);
    // run() has created the renderer and is loading its updater: redraw resize-safely instead
    useFrameUpdater((list as unknown as { renderer?: unknown }).renderer);
  }

  handle(e: RunEvent): void {
    this.#summary.handle(e);
    if (e.type.startsWith('serve-')) return this.#serveLine(e);
    if (!('key' in e) || e.key === undefined) return;
    const slot = this.#slots.get(e.key);
    // a server's warning (a batch queue wait) goes where its news goes
    if (!slot) return e.type === 'warning' ? this.#serveLine(e) : undefined;
    switch (e.type) {
      case 'stage-progress':
        slot.say(formatProgress(e));
        break;
      case 'stage-starting':
        this.#running.set(e.key, slot);
        slot.say(e.resumeFrom !== undefined ? `resuming from checkpoint-${e.resumeFrom}` : `starting attempt ${e.attempt}`);
        break;
      case 'stage-started':
      case 'stage-reattached':
        this.#running.set(e.key, slot);
        slot.say(`${e.type === 'stage-reattached' ? 're-attached to' : 'running in'} ${e.handle.name ?? e.handle.id}`);
        break;
      case 'stage-retry':
        slot.say(`retrying (attempt ${e.attempt}) in ${formatDuration(e.delayMs)}`);
        break;
      case 'stage-failed':
        if (e.willRetry) slot.say(e.shortMessage);
        else slot.end({ kind: 'error', message: e.message });
        break;
      case 'stage-finished':
        slot.end({ kind: 'ok', title: `${slot.title}: ${formatDuration(e.durationMs)}${e.finalLoss !== undefined ? `, loss ${e.finalLoss.toFixed(4)}` : ''}` });
        break;
      case 'stage-skipped':
        slot.end({ kind: 'skip', message: `${slot.title}: skipped (${e.reason})` });
        break;
      case 'stage-blocked':
        slot.end({ kind: 'error', message: `blocked: ${e.reason}` });
        break;
      case 'stage-interrupted':
        slot.end({ kind: 'error', message: e.detached ? 'left running (detached); `flux-train resume` re-attaches' : 'interrupted; rerun the same command to resume' });
        break;
      case 'checkpoint-quarantined':
        slot.say(`quarantined ${e.path}`);
        break;
      case 'warning':
        slot.say(e.message);
        break;
      case 'stage-moved-aside':
        slot.say(`old outputs moved to ${e.to}`);
        break;
      case 'stage-planned':
      case 'stage-checkpoint':
        break;
    }
  }

  /** A server has no line of its own in the tree: its news goes under the stages that run (its consumers), and a failure stays under the tree. */
  #serveLine(e: RunEvent): void {
    const line = eventLine(e);
    if (line === undefined) return;
    for (const slot of this.#running.values()) if (!slot.ending) slot.say(line);
    if (e.type === 'serve-failed') this.#summary.note(line);
  }

  notice(text: string): void {
    // listr2 holds the terminal: a line on stderr would only appear after the tree ends
    for (const slot of this.#running.values()) if (!slot.ending) slot.say(text);
    // and once more under the tree, where it stays
    this.#summary.note(text);
  }

  footer(line: string): void {
    this.#summary.footer(line);
  }

  async end(): Promise<void> {
    for (const slot of this.#slots.values()) slot.end({ kind: 'skip', message: `${slot.title}: ${NOT_REACHED}` });
    await this.#done;
    for (const line of this.#summary.lines()) this.write(`${line}\n`);
  }
}
