import { causeInfo } from '../run/causes.js';
import type { BarKind, CurveSegment, EvalResult, InstanceDetails, Point, ReportData, StageCurves, StageGraph, TimeAccount, Timeline, TimelineBar } from './model.js';
import { BETWEEN, REDONE } from './timeline.js';
import { esc, fmtDuration, fmtNum, linear, polyline, px, ticks, type Scale } from './svg.js';

/**
 * The report as one HTML string: inline CSS, inline SVG charts, no script and no network reference,
 * so it opens from a laptop after `scp` and needs no review of third-party code. Tooltips are SVG
 * <title> elements (the browser's own hover).
 */
export function renderReport(d: ReportData): string {
  const sections = [summary(d), lossSection(d.curves), timelineSection(d.timeline, d.time), graphSection(d.graph), d.evals.length > 0 ? evalSection(d.evals) : '', instanceSection(d.instances, d.runDir)];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(d.pipelineName)} · flux-train report</title>
<style>${CSS}</style></head>
<body>${DEFS}<main>
${sections.filter(Boolean).join('\n')}
<footer>flux-train report · ${esc(d.runDir)} · generated ${esc(d.generatedAt)}${d.notes.length ? ` · ${d.notes.map(esc).join('; ')}` : ''}</footer>
</main></body></html>
`;
}

const ROUND_COLORS = ['#2563eb', '#e11d48', '#059669', '#d97706', '#7c3aed', '#0891b2', '#65a30d', '#c026d3', '#475569', '#ea580c'];
export const roundColor = (round: number): string => ROUND_COLORS[(round - 1) % ROUND_COLORS.length] as string;

const BAR: Record<BarKind, { color: string; label: string }> = {
  finished: { color: '#16a34a', label: 'finished' },
  'failed-transient': { color: '#f59e0b', label: 'failed, retried (transient)' },
  'failed-deterministic': { color: '#dc2626', label: 'failed (needs a fix)' },
  interrupted: { color: '#94a3b8', label: 'interrupted' },
  running: { color: '#3b82f6', label: 'running' },
  detached: { color: '#8b5cf6', label: 'left running (detached)' },
};

const STATUS_COLOR: Record<string, string> = { done: '#16a34a', failed: '#dc2626', running: '#3b82f6', interrupted: '#94a3b8', blocked: '#a16207', skipped: '#cbd5e1', pending: '#e2e8f0' };

function summary(d: ReportData): string {
  const t = d.time;
  const lostMs = t.lost.reduce((n, x) => n + x.ms, 0);
  const failedBars = d.timeline.bars.filter((b) => b.kind.startsWith('failed')).length;
  const state = d.inProgress
    ? `<span class="pill running">in progress${d.inProgress.current ? `: ${esc(d.inProgress.current)}` : ''} (pid ${d.inProgress.pid} on ${esc(d.inProgress.host)})</span>`
    : d.timeline.sessions.at(-1)?.ok === true
      ? '<span class="pill ok">finished</span>'
      : d.timeline.sessions.at(-1)?.ok === false
        ? '<span class="pill failed">stopped with a failure</span>'
        : '<span class="pill stopped">stopped before its end was recorded</span>';
  const card = (label: string, value: string, sub = '') => `<div class="card"><div class="label">${label}</div><div class="value">${value}</div>${sub ? `<div class="sub">${sub}</div>` : ''}</div>`;
  return `<header><h1>${esc(d.pipelineName)}</h1><div class="meta">${state} <code>${esc(d.runDir)}</code>${d.rounds !== undefined ? ` · rounds 1..${d.rounds}` : ''}${d.backend ? ` · backend ${esc(d.backend)}` : ''}${d.runId ? ` · run ${esc(d.runId.slice(0, 8))}` : ''}</div></header>
<section class="cards">
${card('effective training time', t.effectiveRatio !== undefined ? `${(t.effectiveRatio * 100).toFixed(1)}%` : 'n/a', 'useful training ÷ wall time')}
${card('wall time', fmtDuration(t.wallMs), `${d.timeline.sessions.length} session${d.timeline.sessions.length === 1 ? '' : 's'}`)}
${card('useful training', fmtDuration(t.usefulTrainingMs), t.commandMs > 0 ? `+ ${fmtDuration(t.commandMs)} command stages` : '')}
${card('lost', lostMs >= 3_600_000 ? `${(lostMs / 3_600_000).toFixed(1)} h` : fmtDuration(lostMs), `${t.lost[0] ? `mostly ${esc(t.lost[0].why.split(':')[0] as string)}; ` : ''}${failedBars} failed attempt${failedBars === 1 ? '' : 's'}`)}
</section>`;
}

// ---------------------------------------------------------------- loss and learning rate

const CW = 560;
const M = { l: 52, r: 14, t: 22, b: 26 };

function lossSection(curves: StageCurves[]): string {
  if (curves.length === 0) return '<section><h2>Loss</h2><p class="empty">No training step has been logged yet.</p></section>';
  return `<section><h2>Loss by stage, rounds overlaid</h2>
<p class="hint">One chart per stage id; one color per round. Long noisy curves show a moving average over the faint logged values. A resumed attempt continues its round's line from its checkpoint (○); the steps it trained again are hatched and the superseded stretch of the earlier attempt is dashed. Learning rate below each chart.</p>
<div class="grid">${curves.map(stageChart).join('\n')}</div></section>`;
}

function extent(values: number[]): [number, number] {
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
    r.segments.forEach((seg, i) => {
      if (marks && seg.redone) {
        body.push(
          `<rect class="redone" x="${px(x(seg.redone.from))}" y="${M.t}" width="${px(Math.max(2, x(seg.redone.to) - x(seg.redone.from)))}" height="${h - M.b - M.t}" fill="url(#hatch)"><title>${esc(`${r.key}: steps ${seg.redone.from + 1}–${seg.redone.to} trained again by attempt ${seg.attempt ?? '?'}${seg.redone.cause ? ` after ${seg.redone.cause} (${causeInfo(seg.redone.cause).title})` : ''}`)}</title></rect>`,
        );
      }
      const pts = pick(seg);
      if (pts.length === 0) return;
      // where a later attempt went back to, this attempt's line is superseded
      const later = r.segments.slice(i + 1).map((s) => s.redone?.from ?? s.firstStep);
      const cut = later.length > 0 ? Math.min(...later) : Infinity;
      const kept = pts.filter((p) => p.step <= cut);
      const gone = pts.filter((p) => p.step >= (kept.at(-1)?.step ?? -Infinity));
      const xy = (p: Point) => ({ x: x(p.step), y: y(p.value) });
      const tip = `${r.key} attempt ${seg.attempt ?? '?'}: steps ${seg.firstStep}–${seg.lastStep}`;
      const raw = marks && seg.smooth ? ' raw' : '';
      if (kept.length > 0) body.push(`<path class="series${raw}" d="${polyline(kept.map(xy))}" stroke="${color}"><title>${esc(tip)}</title></path>`);
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
  const parts = [`${b.key} attempt ${b.attempt}: ${BAR[b.kind].label}, ${fmtDuration(b.end - b.start)}`];
  if (b.resumeFrom !== undefined) parts.push(`resumed from checkpoint-${b.resumeFrom}`);
  if (b.launchEnd !== undefined) parts.push(`starting took ${fmtDuration(b.launchEnd - b.start)}`);
  if (b.reattached) parts.push('re-attached by a later session');
  if (b.cause) parts.push(`cause: ${b.cause} (${causeInfo(b.cause).title})`);
  if (b.message) parts.push(b.message);
  return parts.join('\n');
}

function timelineSection(t: Timeline, time: TimeAccount): string {
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
<p class="hint">One bar per attempt; hover a bar for its outcome and, for a failure, the one-line report. The lighter start of a bar is the job starting (container start, Slurm queue); a dashed outline marks an attempt re-attached by a later session. Grey bands are the <code>round</code> sessions.</p>
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

// ---------------------------------------------------------------- stage graph

function graphSection(g: StageGraph): string {
  if (g.nodes.length === 0) return '';
  const NW = 150;
  const NH = 32;
  const colW = 200;
  const rowH = 56;
  const hasBases = g.bases.length > 0;
  const col0 = hasBases ? 1 : 0;
  const W = 20 + (g.rounds.length + col0) * colW;
  const rows = Math.max(g.ids.length, g.bases.length);
  const H = 30 + rows * rowH;
  const pos = new Map<string, { x: number; y: number }>();
  for (const n of g.nodes) pos.set(n.key, { x: 20 + (g.rounds.indexOf(n.round) + col0) * colW, y: 30 + g.ids.indexOf(n.id) * rowH });
  g.bases.forEach((b, i) => pos.set(`base:${b.ref}`, { x: 20, y: 30 + i * rowH }));
  const body: string[] = [];
  if (hasBases) body.push(`<text class="col-label" x="${20 + NW / 2}" y="16" text-anchor="middle">base models</text>`);
  g.rounds.forEach((r, i) => body.push(`<text class="col-label" x="${20 + (i + col0) * colW + NW / 2}" y="16" text-anchor="middle">round ${r}</text>`));
  const edge = (from: { x: number; y: number }, to: { x: number; y: number }, cls: string, tip: string) => {
    let d: string;
    if (from.x === to.x && Math.abs(to.y - from.y) > rowH) {
      // skips rows in its own round: around the left side, so it does not cross the nodes between
      const sy = from.y + NH / 2;
      const ty = to.y + NH / 2;
      d = `M${px(from.x)} ${px(sy)}C${px(from.x - 34)} ${px(sy)} ${px(to.x - 34)} ${px(ty)} ${px(to.x)} ${px(ty)}`;
    } else if (from.x === to.x) {
      const down = to.y > from.y;
      const sx = from.x + NW / 2;
      const sy = down ? from.y + NH : from.y;
      const ty = down ? to.y : to.y + NH;
      d = `M${px(sx)} ${px(sy)}L${px(sx)} ${px(ty)}`;
    } else {
      const sx = from.x + NW;
      const sy = from.y + NH / 2;
      const tx = to.x;
      const ty = to.y + NH / 2;
      const c = Math.max(30, (tx - sx) / 2);
      d = `M${px(sx)} ${px(sy)}C${px(sx + c)} ${px(sy)} ${px(tx - c)} ${px(ty)} ${px(tx)} ${px(ty)}`;
    }
    body.push(`<path class="edge ${cls}" d="${d}" marker-end="url(#arrow-${cls})"><title>${esc(tip)}</title></path>`);
  };
  for (const b of g.bases) for (const k of b.keys) edge(pos.get(`base:${b.ref}`) as { x: number; y: number }, pos.get(k) as { x: number; y: number }, 'model', `${k} starts from base model ${b.ref}`);
  for (const e of g.edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (a && b) edge(a, b, e.kind, e.kind === 'model' ? `${e.to} starts from the model ${e.from} trained` : `${e.to} reads data written by ${e.from}`);
  }
  for (const n of g.nodes) {
    const p = pos.get(n.key) as { x: number; y: number };
    body.push(
      `<g class="node"><rect x="${p.x}" y="${p.y}" width="${NW}" height="${NH}" rx="6" fill="#fff" stroke="${STATUS_COLOR[n.status] ?? '#94a3b8'}" stroke-width="2"><title>${esc(`${n.key}: ${n.status}`)}</title></rect><rect x="${p.x}" y="${p.y}" width="6" height="${NH}" rx="3" fill="${STATUS_COLOR[n.status] ?? '#94a3b8'}"/><text x="${p.x + 14}" y="${p.y + NH / 2 + 4}">${esc(n.id)}</text></g>`,
    );
  }
  g.bases.forEach((b) => {
    const p = pos.get(`base:${b.ref}`) as { x: number; y: number };
    const name = b.ref.split('/').filter(Boolean).at(-1) ?? b.ref;
    body.push(`<g class="node base"><rect x="${p.x}" y="${p.y}" width="${NW}" height="${NH}" rx="16" fill="#f1f5f9" stroke="#64748b"><title>${esc(b.ref)}</title></rect><text x="${p.x + NW / 2}" y="${p.y + NH / 2 + 4}" text-anchor="middle">${esc(name.length > 20 ? `${name.slice(0, 19)}…` : name)}</text></g>`);
  });
  return `<section><h2>Stage graph across rounds</h2>
<p class="hint">Solid arrows hand a model on (the stage starts from that checkpoint); dashed arrows are data (files another stage wrote). Border color is the instance's status.</p>
<div class="card wide"><svg class="chart graph" data-chart="graph" viewBox="0 0 ${W} ${H}" style="max-width:${W}px" role="img" aria-label="stage graph">${body.join('')}</svg></div></section>`;
}

// ---------------------------------------------------------------- evaluation

function evalSection(evals: EvalResult[]): string {
  const byId = new Map<string, EvalResult[]>();
  for (const e of evals) byId.set(e.id, [...(byId.get(e.id) ?? []), e]);
  const blocks: string[] = [];
  for (const [id, rs] of byId) {
    rs.sort((a, b) => a.round - b.round);
    const names = [...new Set(rs.flatMap((r) => Object.keys(r.metrics)))].sort();
    const table = `<table><thead><tr><th>round</th>${names.map((n) => `<th>${esc(n)}</th>`).join('')}</tr></thead><tbody>${rs
      .map((r) => `<tr><td>${r.round}</td>${names.map((n) => `<td class="num">${r.metrics[n] !== undefined ? fmtNum(r.metrics[n] as number) : '–'}</td>`).join('')}</tr>`)
      .join('')}</tbody></table>`;
    const charts = names.map((n) => metricChart(id, n, rs.flatMap((r) => (r.metrics[n] !== undefined ? [{ step: r.round, value: r.metrics[n] as number }] : [])))).join('');
    blocks.push(`<figure class="card chart-card"><figcaption><b>${esc(id)}</b></figcaption>${table}<div class="minis">${charts}</div></figure>`);
  }
  return `<section><h2>Evaluation by round</h2><div class="grid">${blocks.join('')}</div></section>`;
}

function metricChart(id: string, name: string, pts: Point[]): string {
  const W = 240;
  const H = 120;
  const rounds = pts.map((p) => p.step);
  const x = linear(Math.min(...rounds) - 0.3, Math.max(...rounds) + 0.3, 40, W - 10);
  const [lo, hi] = extent(pts.map((p) => p.value));
  const y = linear(lo, hi, H - 22, 16);
  const body = [
    `<text class="axis-label" x="4" y="11">${esc(name)}</text>`,
    ...ticks(lo, hi, 3).map((t) => `<line class="grid" x1="40" x2="${W - 10}" y1="${px(y(t))}" y2="${px(y(t))}"/><text class="tick" x="36" y="${px(y(t) + 3.5)}" text-anchor="end">${fmtNum(t)}</text>`),
    ...pts.map((p) => `<text class="tick" x="${px(x(p.step))}" y="${H - 6}" text-anchor="middle">r${p.step}</text>`),
    `<path class="series" d="${polyline(pts.map((p) => ({ x: x(p.step), y: y(p.value) })))}" stroke="#2563eb"/>`,
    ...pts.map((p) => `<circle class="point" cx="${px(x(p.step))}" cy="${px(y(p.value))}" r="3.5" fill="#2563eb"><title>${esc(`round ${p.step}: ${name} = ${p.value}`)}</title></circle>`),
  ];
  return `<svg class="chart mini" data-chart="${esc(`eval:${id}:${name}`)}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(`${name} of ${id} by round`)}">${body.join('')}</svg>`;
}

// ---------------------------------------------------------------- stage instances

function instanceSection(list: InstanceDetails[], runDir: string): string {
  if (list.length === 0) return '';
  // paths relative to the run dir (named at the top), which is how they are found after an scp
  const rel = (p: string) => (p.startsWith(`${runDir}/`) ? p.slice(runDir.length + 1) : p);
  const rows = list
    .map((s) => {
      const changed =
        s.changed === undefined
          ? '<span class="muted">first round</span>'
          : s.changed.length === 0
            ? '<span class="muted">same as previous round</span>'
            : s.changed.map((c) => `<code>${esc(c.name)}</code>: ${c.before !== undefined ? `<del>${esc(c.before)}</del>` : '<i>unset</i>'} → ${c.after !== undefined ? `<ins>${esc(c.after)}</ins>` : '<i>unset</i>'}`).join('<br>');
      const paths = [
        `out <code>${esc(rel(s.outputDir))}</code>`,
        ...(s.configPath ? [`config <code>${esc(rel(s.configPath))}</code>`] : []),
        ...s.logPaths.map((p, i) => `log${s.logPaths.length > 1 ? ` ${i + 1}` : ''} <code>${esc(rel(p))}</code>`),
      ].join('<br>');
      return `<tr><td><b>${esc(s.key)}</b><br><span class="status" style="--c:${STATUS_COLOR[s.status] ?? '#94a3b8'}">${esc(s.status)}</span> <span class="muted">${esc(s.kind)}</span></td><td>${s.model ? esc(s.model) : '<span class="muted">–</span>'}</td><td>${s.datasets.map(esc).join('<br>') || '<span class="muted">–</span>'}</td><td>${changed}</td><td class="paths">${paths}</td></tr>`;
    })
    .join('');
  return `<section><h2>Stage instances</h2><div class="card wide scroll"><table class="instances"><thead><tr><th>instance</th><th>model in</th><th>datasets</th><th>arguments changed from the previous round</th><th>paths (in the run dir)</th></tr></thead><tbody>${rows}</tbody></table></div></section>`;
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;background:#f8fafc;color:#0f172a;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px 20px 40px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:32px 0 6px}
h3{font-size:15px;margin:18px 0 8px}
header .meta{color:#475569}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f5f9;padding:1px 4px;border-radius:4px;overflow-wrap:anywhere}
.pill{display:inline-block;padding:1px 10px;border-radius:999px;font-weight:600;font-size:12px;color:#fff;background:#16a34a}
.pill.running{background:#3b82f6}.pill.stopped{background:#64748b}.pill.failed{background:#dc2626}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin-top:18px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:12px 14px;box-shadow:0 1px 2px rgba(15,23,42,.04)}
.card .label{color:#64748b;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:26px;font-weight:650;margin-top:2px}
.card .sub{color:#64748b;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:14px}
.chart-card{margin:0}
figcaption{margin-bottom:4px}
.legend{color:#334155;font-size:12px}
.hint{color:#64748b;margin:0 0 10px;max-width:900px}
.muted{color:#94a3b8}
.empty{color:#64748b;font-style:italic}.small{font-size:12px;margin:4px 0}
.chip{display:inline-block;width:10px;height:10px;border-radius:2px;background:var(--c);margin-right:5px;vertical-align:-1px}
svg.chart{display:block;width:100%;height:auto;overflow:visible}
svg text{font-family:inherit}
.tick{font-size:10px;fill:#64748b}
.axis-label{font-size:11px;fill:#334155;font-weight:600}
.row-label{font-size:11.5px;fill:#0f172a;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.col-label{font-size:12px;fill:#334155;font-weight:600}
line.grid{stroke:#e2e8f0;stroke-width:1}
path.series{fill:none;stroke-width:1.8;stroke-linejoin:round;stroke-linecap:round}
path.series.raw{opacity:.22;stroke-width:1.2}
path.series.smooth{stroke-width:2.2}
path.series.superseded{stroke-dasharray:4 3;opacity:.45}
rect.redone{stroke:#dc2626;stroke-opacity:.35}
rect.session{fill:#f1f5f9}
.bar-label{font-size:10.5px;fill:#fff;font-weight:600;dominant-baseline:middle}
rect.bar.live{animation:pulse 1.6s ease-in-out infinite}
@keyframes pulse{50%{opacity:.6}}
g.attempt:hover rect.bar{filter:brightness(1.1);stroke:#0f172a;stroke-width:1}
.node text{font-size:12px;fill:#0f172a}
path.edge{fill:none;stroke:#475569;stroke-width:1.5}
path.edge.data{stroke-dasharray:5 4;stroke:#0891b2}
.stack{display:flex;height:18px;border-radius:5px;overflow:hidden;background:#e2e8f0;max-width:900px}
table{border-collapse:collapse;font-size:13px}
th,td{text-align:left;padding:5px 10px;border-bottom:1px solid #e2e8f0;vertical-align:top}
th{color:#475569;font-weight:600;font-size:12px}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.account{margin-top:10px}
.wide{overflow-x:auto}
table.instances{width:100%}
table.instances td.paths{font-size:12px;min-width:330px}
table.instances td.paths code{white-space:nowrap}
.status{display:inline-block;font-size:11px;font-weight:600;color:#fff;background:var(--c);border-radius:4px;padding:0 6px}
del{color:#b91c1c}ins{color:#15803d;text-decoration:none;font-weight:600}
.minis{display:flex;flex-wrap:wrap;gap:8px;margin-top:8px}.minis svg{width:240px}
footer{margin-top:36px;color:#94a3b8;font-size:12px}
@media (max-width:800px){.cards{grid-template-columns:repeat(2,1fr)}.grid{grid-template-columns:1fr}}
`;

/** The shared SVG definitions (hatching, arrowheads), emitted once at the top of the body. */
export const DEFS = `<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>
<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fee2e2"/><line x1="0" y1="0" x2="0" y2="6" stroke="#f87171" stroke-width="2"/></pattern>
<marker id="arrow-model" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#475569"/></marker>
<marker id="arrow-data" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#0891b2"/></marker>
</defs></svg>`;
