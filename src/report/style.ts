import type { BarKind } from './model.js';

/** Colors, the page's CSS and the shared SVG definitions: one look for every section. */

const ROUND_COLORS = ['#2563eb', '#e11d48', '#059669', '#d97706', '#7c3aed', '#0891b2', '#65a30d', '#c026d3', '#475569', '#ea580c'];
export const roundColor = (round: number): string => ROUND_COLORS[(round - 1) % ROUND_COLORS.length] as string;

export const BAR: Record<BarKind, { color: string; label: string }> = {
  finished: { color: '#16a34a', label: 'finished' },
  'failed-transient': { color: '#f59e0b', label: 'failed, retried (transient)' },
  'failed-deterministic': { color: '#dc2626', label: 'failed (needs a fix)' },
  interrupted: { color: '#94a3b8', label: 'interrupted' },
  running: { color: '#3b82f6', label: 'running' },
  detached: { color: '#8b5cf6', label: 'left running (detached)' },
};

export const STATUS_COLOR: Record<string, string> = { done: '#16a34a', failed: '#dc2626', running: '#3b82f6', interrupted: '#94a3b8', blocked: '#a16207', skipped: '#cbd5e1', pending: '#e2e8f0' };

export const CSS = `
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

/** The shared SVG definitions (hatching, arrowheads), emitted once at the top of the body. */
export const DEFS = `<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>
<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fee2e2"/><line x1="0" y1="0" x2="0" y2="6" stroke="#f87171" stroke-width="2"/></pattern>
<marker id="arrow-model" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#475569"/></marker>
<marker id="arrow-data" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#0891b2"/></marker>
</defs></svg>`;
