import type { StageGraph } from './model.js';
import { STATUS_COLOR } from './style.js';
import { esc, px } from './svg.js';

/** The stage graph across rounds as inline SVG: rounds are columns, stage ids rows. */


export function graphSection(g: StageGraph): string {
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

