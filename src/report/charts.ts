import { causeInfo } from '../run/causes.js';
import type { BarKind, CurveSegment, Point, StageCurves, TimeAccount, Timeline, TimelineBar } from './model.js';
import { BAR, roundColor } from './style.js';
import { esc, fmtDuration, fmtNum, linear, polyline, px, ticks, type Scale } from './svg.js';
import { BETWEEN, REDONE } from './timeline.js';

/** The loss and learning-rate charts and the attempt timeline, as inline SVG. */

// ---------------------------------------------------------------- loss and learning rate

const CW = 560;
const M = { l: 52, r: 14, t: 22, b: 26 };

export function lossSection(curves: StageCurves[]): string {
  if (curves.length === 0) return '<section><h2>Loss</h2><p class="empty">No training step has been logged yet.</p></section>';
  return `<section><h2>Loss by stage, rounds overlaid</h2>
<p class="hint">One chart per stage id; one color per round. Long noisy curves show a moving average over the faint logged values. A resumed attempt continues its round's line from its checkpoint (○); the steps it trained again are hatched and the superseded stretch of the earlier attempt is dashed. Learning rate below each chart.</p>
<div class="grid">${curves.map(stageChart).join('\n')}</div></section>`;
}

export function extent(values: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (lo === hi) return [lo - Math.abs(lo || 1) * 0.1, hi + Math.abs(hi || 1) * 0.1];
  const pad = (hi - lo) * 0.06;
  return [lo - pad, hi + pad];
}

function stageChart(c: StageCurves): string {
  const maxStep = Math.max(1, ...c.rounds.flatMap((r) => [r.totalSteps ?? 0, ...r.segments.map((s) => s.lastStep)]));
  const x = linear(0, maxStep, M.l, CW - M.r);
  const legend = c.rounds
    .map((r) => {
      const attempts = r.segments.length;
      return `<span class="chip" style="--c:${roundColor(r.round)}"></span>round ${r.round}${attempts > 1 ? ` <span class="muted">(${attempts} attempts)</span>` : ''}`;
    })
    .join(' &nbsp; ');
  const loss = panel(c, x, 200, 'loss', (s) => s.loss, true);
  const lr = panel(c, x, 96, 'learning rate', (s) => s.lr, false);
  return `<figure class="card chart-card"><figcaption><b>${esc(c.id)}</b> <span class="muted">by step</span> <span class="legend">${legend}</span></figcaption>${loss}${lr}</figure>`;
}

function panel(c: StageCurves, x: Scale, h: number, what: string, pick: (s: CurveSegment) => Point[], marks: boolean): string {
  const all = c.rounds.flatMap((r) => r.segments.flatMap((s) => pick(s).map((p) => p.value)));
  if (all.length === 0) return `<p class="empty small">no ${what} logged</p>`;
  const [lo, hi] = extent(all);
  const y = linear(lo, hi, h - M.b, M.t);
  const body: string[] = [];
  for (const t of ticks(lo, hi, h > 120 ? 5 : 3)) body.push(`<line class="grid" x1="${M.l}" x2="${CW - M.r}" y1="${px(y(t))}" y2="${px(y(t))}"/><text class="tick" x="${M.l - 6}" y="${px(y(t) + 3.5)}" text-anchor="end">${fmtNum(t)}</text>`);
  for (const t of ticks(0, x.domain[1], 6)) body.push(`<text class="tick" x="${px(x(t))}" y="${h - 8}" text-anchor="middle">${fmtNum(t)}</text>`);
  for (const r of c.rounds) {
    const color = roundColor(r.round);
    const cuts = supersededFrom(r.segments);
    r.segments.forEach((seg, i) => {
      if (marks && seg.redone) {
        body.push(
          `<rect class="redone" x="${px(x(seg.redone.from))}" y="${M.t}" width="${px(Math.max(2, x(seg.redone.to) - x(seg.redone.from)))}" height="${h - M.b - M.t}" fill="url(#hatch)"><title>${esc(`${r.key}: steps ${seg.redone.from + 1}–${seg.redone.to} trained again by attempt ${seg.attempt ?? '?'}${seg.redone.cause ? ` after ${seg.redone.cause} (${causeInfo(seg.redone.cause).title})` : ''}`)}</title></rect>`,
        );
      }
      const pts = pick(seg);
      if (pts.length === 0) return;
      // where a later attempt went back to, this attempt's line is superseded
      const cut = cuts[i] as number;
      const kept = pts.filter((p) => p.step <= cut);
      const gone = pts.filter((p) => p.step >= (kept.at(-1)?.step ?? -Infinity));
      const xy = (p: Point) => ({ x: x(p.step), y: y(p.value) });
      const tip = `${r.key} attempt ${seg.attempt ?? '?'}: steps ${seg.firstStep}–${seg.lastStep}`;
      const raw = marks && seg.smooth ? ' raw' : '';
      // a resumed attempt's line starts where the previous one's reached its checkpoint
      const anchor = seg.redone?.from ?? (pts[0] as Point).step;
      const before = i > 0 ? pick(r.segments[i - 1] as CurveSegment).filter((p) => p.step <= anchor).at(-1) : undefined;
      const line = before && kept.length > 0 ? [before, ...kept] : kept;
      if (kept.length > 0) body.push(`<path class="series${raw}" d="${polyline(line.map(xy))}" stroke="${color}"><title>${esc(tip)}</title></path>`);
      if (marks && seg.smooth) body.push(`<path class="series smooth" d="${polyline(seg.smooth.filter((p) => p.step <= cut).map(xy))}" stroke="${color}"><title>${esc(`${tip} (moving average)`)}</title></path>`);
      if (cut !== Infinity && gone.length > 1) body.push(`<path class="series superseded" d="${polyline(gone.map(xy))}" stroke="${color}"><title>${esc(`${tip} (superseded: trained again after this attempt stopped)`)}</title></path>`);
      if (pts.length <= 40 || kept.length === 1) for (const p of pts) body.push(`<circle class="point" cx="${px(x(p.step))}" cy="${px(y(p.value))}" r="2" fill="${color}"/>`);
      if (marks && i > 0) {
        const p0 = pts[0] as Point;
        body.push(`<circle class="resume" cx="${px(x(p0.step))}" cy="${px(y(p0.value))}" r="4.5" fill="#fff" stroke="${color}" stroke-width="2"><title>${esc(`${r.key}: attempt ${seg.attempt ?? '?'} takes over here (first logged step ${seg.firstStep}${seg.redone ? `, resumed from step ${seg.redone.from}` : ''})`)}</title></circle>`);
      }
    });
  }
  return `<svg class="chart" data-chart="${esc(`${what}:${c.id}`)}" viewBox="0 0 ${CW} ${h}" role="img" aria-label="${esc(`${what} of ${c.id} by step`)}">
<text class="axis-label" x="4" y="12">${what}</text>${body.join('')}</svg>`;
}

/** Per segment, the step from which a later attempt trained again (Infinity: none did): one pass from the end. */
function supersededFrom(segments: CurveSegment[]): number[] {
  const out = segments.map(() => Infinity);
  let min = Infinity;
  for (let i = segments.length - 1; i >= 0; i--) {
    out[i] = min;
    const s = segments[i] as CurveSegment;
    min = Math.min(min, s.redone?.from ?? s.firstStep);
  }
  return out;
}

// ---------------------------------------------------------------- timeline

/** Tick spacing in ms that people count in: seconds, minutes, hours. */
function timeTicks(spanMs: number): number[] {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000);
  const step = steps.find((s) => spanMs / s <= 8) ?? 86_400_000 * Math.ceil(spanMs / 8 / 86_400_000);
  const out: number[] = [];
  for (let t = 0; t <= spanMs; t += step) out.push(t);
  return out;
}

function barTip(b: TimelineBar): string {
  const what = b.server ? `server ${b.key} attempt ${b.attempt}: ${b.kind === 'finished' ? 'stopped after its consumers' : BAR[b.kind].label}` : `${b.key} attempt ${b.attempt}: ${BAR[b.kind].label}`;
  const parts = [`${what}, ${fmtDuration(b.end - b.start)}`];
  if (b.resumeFrom !== undefined) parts.push(`resumed from checkpoint-${b.resumeFrom}`);
  if (b.launchEnd !== undefined) parts.push(`${b.server ? 'loading until ready' : 'starting'} took ${fmtDuration(b.launchEnd - b.start)}`);
  if (b.reattached) parts.push(b.server ? 're-used by a later session' : 're-attached by a later session');
  if (b.cause) parts.push(`cause: ${b.cause} (${causeInfo(b.cause).title})`);
  if (b.message) parts.push(b.message);
  return parts.join('\n');
}

export function timelineSection(t: Timeline, time: TimeAccount): string {
  const W = 1100;
  const L = 170;
  const R = 16;
  const rowH = 24;
  const top = 22;
  const h = top + Math.max(1, t.rows.length) * rowH + 26;
  const span = Math.max(1000, t.endMs - t.startMs);
  const x = linear(0, span, L, W - R);
  const body: string[] = [];
  t.sessions.forEach((s, i) => {
    body.push(`<rect class="session" x="${px(x(s.start))}" y="${top - 4}" width="${px(Math.max(1, x(s.end) - x(s.start)))}" height="${h - top - 22}"><title>${esc(`session ${i + 1}: ${fmtDuration(s.end - s.start)}${s.ok === false ? ', ended with a failure' : s.ok ? ', ok' : ''}`)}</title></rect>`);
    body.push(`<text class="tick" x="${px(x(s.start) + 3)}" y="${top - 8}">session ${i + 1}</text>`);
  });
  for (const tk of timeTicks(span)) body.push(`<line class="grid" x1="${px(x(tk))}" x2="${px(x(tk))}" y1="${top - 4}" y2="${h - 22}"/><text class="tick" x="${px(x(tk))}" y="${h - 8}" text-anchor="middle">${fmtDuration(tk)}</text>`);
  t.rows.forEach((key, i) => {
    const y = top + i * rowH;
    body.push(`<text class="row-label" x="${L - 8}" y="${y + rowH / 2 + 4}" text-anchor="end">${esc(key)}</text>`);
  });
  for (const b of t.bars) {
    const i = t.rows.indexOf(b.key);
    const y = top + i * rowH + 4;
    const x0 = x(b.start);
    const w = Math.max(3, x(b.end) - x0);
    const { color } = BAR[b.kind];
    const launch = b.launchEnd !== undefined ? `<rect x="${px(x0)}" y="${y}" width="${px(Math.min(w, Math.max(1, x(b.launchEnd) - x0)))}" height="${rowH - 8}" fill="#fff" opacity="0.45" pointer-events="none"/>` : '';
    const label = w > 26 ? `<text class="bar-label" x="${px(x0 + 4)}" y="${y + rowH / 2}" pointer-events="none">a${b.attempt}${b.kind.startsWith('failed') && b.cause && w > 90 ? ` ${esc(b.cause)}` : ''}</text>` : '';
    body.push(
      `<g class="attempt" data-key="${esc(b.key)}" data-attempt="${b.attempt}" data-kind="${b.kind}"><rect class="bar${b.kind === 'running' ? ' live' : ''}" x="${px(x0)}" y="${y}" width="${px(w)}" height="${rowH - 8}" rx="3" fill="${color}"${b.reattached ? ' stroke="#1e293b" stroke-dasharray="3 2" stroke-width="1.5"' : ''}><title>${esc(barTip(b))}</title></rect>${launch}${label}</g>`,
    );
  }
  const kinds = [...new Set(t.bars.map((b) => b.kind))];
  const legend = (Object.keys(BAR) as BarKind[])
    .filter((k) => kinds.includes(k))
    .map((k) => `<span class="chip" style="--c:${BAR[k].color}"></span>${BAR[k].label}`)
    .join(' &nbsp; ');
  const svg = `<svg class="chart timeline" data-chart="timeline" viewBox="0 0 ${W} ${h}" role="img" aria-label="timeline of every attempt">${body.join('')}</svg>`;
  return `<section><h2>Timeline of every attempt</h2>
<p class="hint">One bar per attempt; hover a bar for its outcome and, for a failure, the one-line report. The lighter start of a bar is the job starting (container start, Slurm queue); a dashed outline marks an attempt re-attached by a later session. A server's row (serve stage) is its time up: loading (lighter), then serving its consumers. Grey bands are the <code>round</code> sessions.</p>
<div class="legend">${legend || 'no attempt yet'}</div>
<div class="card wide">${svg}</div>
${timeAccount(time)}</section>`;
}

function timeAccount(t: TimeAccount): string {
  if (t.wallMs <= 0) return '';
  const parts = [{ why: 'useful training', ms: t.usefulTrainingMs, color: '#16a34a' }, ...(t.commandMs > 0 ? [{ why: 'command stages', ms: t.commandMs, color: '#0891b2' }] : [])];
  const lostColors = ['#dc2626', '#f59e0b', '#e11d48', '#a855f7', '#ea580c', '#be123c'];
  let n = 0;
  const lost = t.lost.map((l) => ({ ...l, color: l.why === BETWEEN ? '#94a3b8' : l.why === REDONE ? '#f472b6' : (lostColors[n++ % lostColors.length] as string) }));
  const all = [...parts, ...lost];
  const total = Math.max(t.wallMs, all.reduce((n, p) => n + p.ms, 0));
  const bar = all
    .filter((p) => p.ms > 0)
    .map((p) => `<div style="width:${((p.ms / total) * 100).toFixed(2)}%;background:${p.color}" title="${esc(`${p.why}: ${fmtDuration(p.ms)}`)}"></div>`)
    .join('');
  const rows = all.map((p) => `<tr><td><span class="chip" style="--c:${p.color}"></span>${esc(p.why)}</td><td class="num">${fmtDuration(p.ms)}</td><td class="num">${(p.ms / 3_600_000).toFixed(2)} h</td><td class="num">${((p.ms / t.wallMs) * 100).toFixed(1)}%</td></tr>`).join('');
  return `<h3>Where the time went</h3><div class="stack">${bar}</div>
<table class="account"><thead><tr><th></th><th>time</th><th>hours</th><th>of wall</th></tr></thead><tbody>${rows}</tbody></table>`;
}

