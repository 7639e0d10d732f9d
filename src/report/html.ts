import type { EvalResult, InstanceDetails, Point, ReportData } from './model.js';
import { extent, lossSection, timelineSection } from './charts.js';
import { graphSection } from './graph-svg.js';
import { CSS, DEFS, STATUS_COLOR } from './style.js';
import { esc, fmtDuration, fmtNum, linear, polyline, px, ticks } from './svg.js';

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
${card('useful training', fmtDuration(t.usefulTrainingMs), [t.commandMs > 0 ? `+ ${fmtDuration(t.commandMs)} command stages` : '', t.servingMs > 0 ? `servers up ${fmtDuration(t.servingMs)} (beside their consumers)` : ''].filter(Boolean).join('; '))}
${card('lost', lostMs >= 3_600_000 ? `${(lostMs / 3_600_000).toFixed(1)} h` : fmtDuration(lostMs), `${t.lost[0] ? `mostly ${esc(t.lost[0].why.split(':')[0] as string)}; ` : ''}${failedBars} failed attempt${failedBars === 1 ? '' : 's'}`)}
</section>`;
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
