import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormatError } from '../../engine/errors.js';
import { generationDefaults } from '../../engine/generate/index.js';

test('generation_config.json → generate() defaults (the shipped tiny-llama file)', () => {
  const text = readFileSync(new URL('../../models/tiny-llama/generation_config.json', import.meta.url), 'utf8');
  assert.deepEqual(generationDefaults(text), {
    eosTokenIds: [2, 4], maxNewTokens: 128, doSample: true, temperature: 0.8, topK: 40, topP: 1, repetitionPenalty: 1,
  });
});

test('generation_config.json: single eos id, absent fields, bad values', () => {
  assert.deepEqual(generationDefaults({ eos_token_id: 7, do_sample: false }), { eosTokenIds: [7], doSample: false });
  assert.deepEqual(generationDefaults({}), {});
  for (const bad of [{ eos_token_id: [-1] }, { top_p: 0 }, { temperature: 'hot' }, { do_sample: 1 }, { max_new_tokens: 0 }, { top_k: 1.5 }]) {
    assert.throws(() => generationDefaults(bad), FormatError, JSON.stringify(bad));
  }
  assert.throws(() => generationDefaults('{'), FormatError);
  assert.throws(() => generationDefaults('[]'), FormatError);
});
