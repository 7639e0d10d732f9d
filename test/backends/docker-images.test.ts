import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { projectRoot } from '../../src/util/project-root.js';

/**
 * The CPU image CI builds (scripts/build-llamafactory-image.sh), the CUDA image for users
 * (docker/llamafactory/Dockerfile) and the local venv (scripts/setup-llamafactory-venv.sh) must install the
 * same LLaMA-Factory and torch: a bump in one place only would test one stack and ship another.
 */
const read = (rel: string) => readFileSync(join(projectRoot, rel), 'utf8');
const pins = (text: string): Map<string, string> =>
  new Map(
    text
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean)
      .map((l) => l.split('==') as [string, string]),
  );

describe('the LLaMA-Factory images install from one list of pins', () => {
  const req = pins(read('docker/llamafactory/requirements.txt'));

  it('requirements.txt pins LLaMA-Factory at the version the pipelines name, and torch, torchvision, torchaudio exactly', () => {
    assert.deepEqual([...req.keys()].sort(), ['llamafactory', 'torch', 'torchaudio', 'torchvision']);
    const tiny = read('pipelines/tiny-cpu.yaml');
    assert.match(tiny, new RegExp(`version: ${req.get('llamafactory')?.replace(/\./g, '\\.')}\\b`));
  });

  it('the CUDA Dockerfile installs requirements.txt and requirements-gpu.txt, and nothing pinned elsewhere', () => {
    const df = read('docker/llamafactory/Dockerfile');
    assert.match(df, /COPY requirements\.txt requirements-gpu\.txt/);
    assert.match(df, /pip install -r requirements\.txt/);
    assert.match(df, /DS_BUILD_CPU_ADAM=1 .*pip install --no-build-isolation -r requirements-gpu\.txt/);
    assert.doesNotMatch(df, /llamafactory==|torch==|deepspeed==/, 'pins live in the requirements files only');
    assert.ok(pins(read('docker/llamafactory/requirements-gpu.txt')).get('deepspeed'), 'DeepSpeed is pinned');
  });

  it('the CPU image reads the same requirements.txt, and its Debian torch is the pinned version', () => {
    const script = read('scripts/build-llamafactory-image.sh');
    assert.match(script, /IMAGE=flux-train\/llamafactory-cpu:0\.9\.5\b/);
    assert.match(script, /pins "\$DIR\/requirements\.txt"/);
    const deb = read('docker/llamafactory/debian-packages.txt');
    assert.match(deb, new RegExp(`^python3-torch=${req.get('torch')?.replace(/\./g, '\\.')}\\+`, 'm'));
    assert.match(deb, new RegExp(`^python3-torchvision=${req.get('torchvision')?.replace(/\./g, '\\.')}-`, 'm'));
    assert.match(deb, new RegExp(`^python3-torchaudio=${req.get('torchaudio')?.replace(/\./g, '\\.')}-`, 'm'));
    assert.equal(script.includes(`llamafactory-cpu:${req.get('llamafactory') ?? ''}`), true, 'the tag names the pinned version');
  });

  it('the local venv defaults to the same versions', () => {
    const venv = read('scripts/setup-llamafactory-venv.sh');
    assert.match(venv, new RegExp(`LF_VERSION:-${req.get('llamafactory')}\\}`));
    for (const k of ['torch', 'torchaudio', 'torchvision']) assert.match(venv, new RegExp(`${k.toUpperCase()}_VERSION:-${req.get(k)}\\}`), k);
  });
});
