import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSecretName, MASK, Redactor, secretValues, StreamRedactor } from '../../src/util/redact.js';

describe('secret redaction', () => {
  it('takes pass_env values, HF_TOKEN, WANDB_API_KEY and any TOKEN/SECRET/KEY/PASSWORD name as secrets', () => {
    for (const n of ['HF_TOKEN', 'WANDB_API_KEY', 'MY_SECRET', 'db_password', 'OPENAI_API_KEY', 'GH_TOKEN']) assert.ok(isSecretName(n), n);
    assert.equal(isSecretName('HF_ENDPOINT'), false);
    const v = secretValues({ HF_TOKEN: 'hf_abcdefgh', HF_ENDPOINT: 'https://mirror.example', PATH: '/usr/bin', SHORT_KEY: '1', CUSTOM: 'custom-value' }, ['CUSTOM']);
    assert.deepEqual(v.sort(), ['custom-value', 'hf_abcdefgh']);
  });

  it('masks every occurrence, in strings and in nested values (keys included)', () => {
    const r = new Redactor(['hf_abcdefgh', 'hf_abcdefgh_longer']);
    assert.equal(r.redact('a hf_abcdefgh_longer b hf_abcdefgh c'), `a ${MASK} b ${MASK} c`);
    const deep = r.redactDeep({ evidence: ['token hf_abcdefgh'], fields: { 'env.X': 'hf_abcdefgh' }, n: 3, hf_abcdefgh: true });
    assert.deepEqual(deep, { evidence: [`token ${MASK}`], fields: { 'env.X': MASK }, n: 3, [MASK]: true });
  });

  it('masks a secret split across two chunks of a job log', () => {
    const s = new StreamRedactor(new Redactor(['hf_abcdefgh']));
    let out = s.push(Buffer.from('line 1\nauth with hf_abc'));
    out += s.push(Buffer.from('defgh failed\nlast'));
    out += s.end();
    assert.equal(out, `line 1\nauth with ${MASK} failed\nlast`);
  });

  it('masks a secret in a very long line cut into pieces, and keeps multi-byte characters whole', () => {
    const s = new StreamRedactor(new Redactor(['hf_abcdefgh']), 16);
    const text = `${'é'.repeat(20)}hf_abcdefgh${'x'.repeat(40)}hf_abcdefgh\n`;
    const bytes = Buffer.from(text);
    let out = '';
    for (let i = 0; i < bytes.length; i += 7) out += s.push(bytes.subarray(i, i + 7));
    out += s.end();
    assert.equal(out, text.split('hf_abcdefgh').join(MASK));
  });
});
