import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import puppeteer, { type Browser } from 'puppeteer-core';
import { projectRoot } from '../../src/util/project-root.js';
import { dockerReady, removeContainers, Rig } from '../helpers/rig.js';

/** Debian's chromium package (`apt-get install -y chromium`, done by .ci/run). */
const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';

function chromiumMissing(): string | false {
  if (existsSync(CHROMIUM)) return false;
  if (process.env['CI'] === 'true') throw new Error(`CI needs headless Chromium at ${CHROMIUM} for the report's browser tier (apt-get install -y chromium; .ci/run does it)`);
  return `headless Chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM=/path/to/chrome)`;
}

const skip = chromiumMissing() || (await dockerReady());

/** An SVG element as the page sees it (the project compiles without the DOM library). */
interface Graphic {
  getBBox(): { width: number; height: number };
}

/** Where CI collects the screenshot and the page from (the rig's run dir is removed after the test). */
const ARTIFACTS = process.env['FLUX_ARTIFACTS'] ?? join(projectRoot, 'artifacts', 'report-browser');

describe('the report of a finished demo run, in headless Chromium', { skip }, () => {
  const rig = new Rig('report');
  let browser: Browser;
  before(async () => {
    await rig.demo();
    // transient faults: round 1's SFT resumes from checkpoint-4 after logging step 6 (steps 5-6 are
    // trained again), round 2's reasoner is killed before its first checkpoint and starts over
    rig.control('r1/proposer_sft', 'fail_at=7 mode=nccl once=1');
    rig.control('r2/reasoner_dpo', 'fail_at=2 mode=kill once=1');
    const r = await rig.cli(['round', '--n', '3', '--pipeline', 'pipelines/demo.yaml', '--run-dir', 'run'], {}, 300_000);
    assert.equal(r.exitCode, 0, r.all);
    browser = await puppeteer.launch({ executablePath: CHROMIUM, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  });
  after(async () => {
    await browser?.close();
    await removeContainers(rig.runDir);
    rig.cleanup();
  });

  it('draws every chart, one timeline bar per attempt, without console errors or network requests', async () => {
    const r = await rig.cli(['report', '--run-dir', 'run']);
    assert.equal(r.exitCode, 0, r.all);
    const file = join(rig.runDir, 'report.html');
    assert.match(r.stdout, /^wrote .*report\.html/);

    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${String(e)}`));
    page.on('request', (q) => {
      if (!q.url().startsWith('file://')) problems.push(`network request: ${q.url()}`);
    });
    await page.goto(`file://${file}`, { waitUntil: 'load' });

    const charts = await page.$$eval('svg.chart', (svgs) =>
      svgs.map((svg) => {
        const drawn = [...svg.querySelectorAll('path.series, path.edge, circle.point, rect.bar, .node rect')].filter((el) => {
          const b = (el as unknown as Graphic).getBBox();
          return b.width > 0 || b.height > 0;
        });
        return { name: svg.getAttribute('data-chart'), drawn: drawn.length, shown: svg.getBoundingClientRect().width > 0 };
      }),
    );
    const names = charts.map((c) => c.name);
    for (const id of ['proposer_sft', 'proposer_dpo', 'reasoner_dpo']) {
      assert.ok(names.includes(`loss:${id}`), `loss chart of ${id} in ${names.join(', ')}`);
      assert.ok(names.includes(`learning rate:${id}`), `learning rate chart of ${id}`);
    }
    assert.ok(names.includes('timeline') && names.includes('graph'));
    for (const c of charts) {
      assert.ok(c.shown, `${c.name} is laid out`);
      assert.ok(c.drawn > 0, `${c.name} has drawn paths or points`);
    }

    const state = rig.state();
    const attempts = Object.values(state.stages).flatMap((st) => st.attempts.map((a) => `${st.key}#${a.n}`));
    const bars = await page.$$eval('svg.timeline g.attempt', (gs) =>
      gs.map((g) => ({ id: `${g.getAttribute('data-key')}#${g.getAttribute('data-attempt')}`, kind: g.getAttribute('data-kind'), width: (g.querySelector('rect.bar') as unknown as Graphic).getBBox().width, tip: g.querySelector('title')?.textContent ?? '' })),
    );
    assert.deepEqual(bars.map((b) => b.id).sort(), attempts.sort(), 'one bar per attempt');
    assert.ok(attempts.length >= 11, `9 instances and 2 retries: ${attempts.join(' ')}`);
    assert.ok(bars.every((b) => b.width > 0));
    const nccl = bars.find((b) => b.id === 'r1/proposer_sft#1');
    assert.equal(nccl?.kind, 'failed-transient');
    assert.match(nccl?.tip ?? '', /NCCL error/, 'the one-line failure report on hover');
    assert.equal(bars.find((b) => b.id === 'r2/reasoner_dpo#1')?.kind, 'failed-transient');
    assert.equal(await page.$$eval('svg[data-chart="loss:proposer_sft"] rect.redone', (r) => r.length), 1, 'the steps trained again are marked');
    assert.equal(await page.$('section h2 ~ .grid .minis'), null, 'no evaluation section without metrics');

    const shot = join(rig.runDir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    copyFileSync(shot, join(ARTIFACTS, 'report.png'));
    copyFileSync(file, join(ARTIFACTS, 'report.html'));
    await page.close();
    assert.deepEqual(problems, []);
  });
});
