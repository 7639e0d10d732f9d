/**
 * Redraws a multi-line frame in place on a terminal, surviving window resizes.
 *
 * listr2's default renderer draws through log-update with a copy of the stream taken at start, so it
 * keeps wrapping at the starting width and, after the window narrows, erases fewer rows than the
 * terminal now uses: stale copies of the tree pile up. This updater reads the size on every frame,
 * never lets the terminal wrap a line (each is cut to the width), and erases as many rows as the
 * previous frame occupies; after a resize it redraws on a cleared screen, since terminals differ
 * in how they re-wrap (or scroll away) what was drawn at the old size.
 */
export interface FrameUpdater {
  (text: string): void;
  clear(): void;
  done(): void;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07/g;

export function visibleWidth(line: string): number {
  return [...line.replace(ANSI, '')].length;
}

/** Cuts a line to `width` visible characters; colour codes are kept, a cut line ends with a reset. */
export function fitLine(line: string, width: number): string {
  if (visibleWidth(line) <= width) return line;
  let out = '';
  let n = 0;
  let i = 0;
  while (i < line.length && n < width) {
    ANSI.lastIndex = i;
    const m = ANSI.exec(line);
    if (m && m.index === i) {
      out += m[0];
      i += m[0].length;
      continue;
    }
    const ch = String.fromCodePoint(line.codePointAt(i) as number);
    out += ch;
    i += ch.length;
    n++;
  }
  return `${out}\x1b[0m`;
}

/** Rows that lines of these widths take on a terminal of `columns` that re-wraps long lines. */
export function rowsAt(widths: number[], columns: number): number {
  const c = Math.max(1, columns);
  return widths.reduce((n, w) => n + Math.max(1, Math.ceil(w / c)), 0);
}

/**
 * The rows of a frame that fit the window with room to spare. A frame taller than the window cannot
 * be erased from below, so its last rows are shown under a "… N more" line. At most rows - 2 lines
 * are drawn: with the cursor's row below them, the frame then never starts in the top-left corner,
 * where tmux takes the next erase for a clear and copies the whole screen into its scrollback on
 * every spinner tick.
 */
export function clipToWindow(lines: string[], rows: number): string[] {
  const room = Math.max(1, rows - 2);
  if (lines.length <= room) return lines;
  if (room === 1) return lines.slice(-1);
  return [`… ${lines.length - (room - 1)} more above`, ...lines.slice(-(room - 1))];
}

export function createFrameUpdater(write: (s: string) => void, size: () => { columns: number; rows: number }): FrameUpdater {
  let widths: number[] = [];
  let previous = '';
  let previousColumns = -1;

  let drawnAt: { columns: number; rows: number } | undefined;

  const erase = (now: { columns: number; rows: number }): string => {
    const was = drawnAt;
    const n = rowsAt(widths, now.columns);
    widths = [];
    drawnAt = undefined;
    if (n === 0 || was === undefined) return '';
    // The window changed since the last frame: how the terminal re-wrapped it, and whether its top
    // went into the scrollback, differs between terminals. Start again on a clean screen (the
    // terminal keeps what was on it in its scrollback).
    // The blank first row matters: tmux (scroll-on-clear) treats an erase from the top-left corner as
    // a clear and copies the screen into the scrollback, which the next frames would then do each time.
    if (was.columns !== now.columns || was.rows !== now.rows) return '\x1b[H\x1b[2J\n';
    // to the first column of the frame's first row; the new frame overwrites it line by line
    return `\x1b[${n}F`;
  };

  // Each line erases its own rest (EL) and the rows below the new frame are erased only after at
  // least one line, so an erase-below (ED) never starts in the top-left corner, even for a frame
  // drawn from the top of a fresh screen: tmux (scroll-on-clear) takes that for a clear and copies
  // the screen into its scrollback, once per redraw.
  const draw = (lines: string[]): string => `${lines.map((l) => `${l}\x1b[K\n`).join('')}\x1b[J`;

  const update = ((text: string) => {
    const now = size();
    const { columns, rows } = now;
    if (text === previous && columns === previousColumns) return;
    previous = text;
    previousColumns = columns;
    const lines = clipToWindow(text.split('\n'), rows).map((l) => fitLine(l, Math.max(1, columns - 1)));
    write(erase(now) + draw(lines));
    widths = lines.map(visibleWidth);
    drawnAt = now;
  }) as FrameUpdater;

  update.clear = () => {
    const n = widths.length > 0 && drawnAt ? rowsAt(widths, size().columns) : 0;
    const up = erase(size());
    // blank the frame's rows one by one (EL), then return to where it began: no erase-below from the top-left
    write(up.endsWith('F') && n > 0 ? `${up}${'\x1b[2K\n'.repeat(n)}\x1b[${n}F` : up);
    previous = '';
    previousColumns = -1;
  };
  update.done = () => {
    widths = [];
    drawnAt = undefined;
    previous = '';
    previousColumns = -1;
  };
  return update;
}

interface RendererInternals {
  logger?: { process?: { toStdout(buffer: string, eol?: boolean): unknown } };
}

/**
 * Gives listr2's running default renderer this updater. Called right after `listr.run()`: the
 * renderer exists and is loading log-update, so the property it assigns next is intercepted.
 */
export function useFrameUpdater(renderer: unknown, stream: NodeJS.WriteStream = process.stdout): void {
  if (typeof renderer !== 'object' || renderer === null) return;
  const r = renderer as RendererInternals;
  const write = (s: string) => {
    const out = r.logger?.process;
    if (out) out.toStdout(s, false);
    else stream.write(s);
  };
  const mine = createFrameUpdater(write, () => terminalSize(stream));
  Object.defineProperty(renderer, 'updater', { configurable: true, get: () => mine, set: () => undefined });
}

/**
 * The size now, asked of the terminal (an ioctl), not the copy Node refreshes when it gets round to
 * handling SIGWINCH: a frame drawn in between would be measured at the old width.
 */
export function terminalSize(stream: NodeJS.WriteStream): { columns: number; rows: number } {
  try {
    const [columns, rows] = stream.getWindowSize();
    if (columns > 0 && rows > 0) return { columns, rows };
  } catch {
    // not a terminal
  }
  return { columns: stream.columns ?? 80, rows: stream.rows ?? 24 };
}
