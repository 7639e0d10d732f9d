import type { RunEvent } from '../run/events.js';

/** A consumer of run events. Renderers only display; they never decide anything. */
export interface Renderer {
  handle(e: RunEvent): void;
  /** a message for the person at the terminal (Ctrl-C acknowledged), shown where the renderer can show it now */
  notice(text: string): void;
  /** a line for the summary at the end (where the report was written); JSON output has no summary */
  footer(line: string): void;
  /** flushes and stops the view (pending stages are shown as not reached), then prints the summary lines */
  end(): Promise<void>;
}

export type RendererKind = 'tty' | 'plain' | 'json' | 'quiet';

/** listr2's rule: the live view only on a TTY; CI and pipes get one plain line per event. */
export function chooseRenderer(opts: { json?: boolean; quiet?: boolean; isTTY: boolean; env?: NodeJS.ProcessEnv }): RendererKind {
  if (opts.json) return 'json';
  if (opts.quiet) return 'quiet';
  const env = opts.env ?? process.env;
  if (env['FLUX_TRAIN_RENDERER'] === 'plain') return 'plain';
  if (env['FLUX_TRAIN_RENDERER'] === 'tty') return 'tty';
  if (env['CI'] === 'true' || env['TERM'] === 'dumb') return 'plain';
  return opts.isTTY ? 'tty' : 'plain';
}
