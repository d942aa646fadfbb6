import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvalidArgumentError } from '../../engine/errors.js';
import { parseModelConfig, type ModelConfig } from '../../engine/formats/config.js';
import { StopCriteria, StopStringMatcher, kvBytesPerToken, memoryProfile, resolveSlidingWindow, windowTokens } from '../../engine/generate/index.js';

describe('stop strings', () => {
  test('a stop string spanning pieces is held back and never shown', () => {
    const m = new StopStringMatcher(['STOP']);
    assert.deepEqual(['Hel', 'lo ST', 'O', 'P tail'].map((p) => m.push(p)), ['Hel', 'lo ', '', '']);
    assert.equal(m.stopped, 'STOP');
    assert.equal(m.push('more'), '');
    assert.equal(m.flush(), '');
  });

  test('a false start is released as soon as it can no longer match', () => {
    const m = new StopStringMatcher(['STOP']);
    assert.deepEqual(['a S', 'T', 'x'].map((p) => m.push(p)), ['a ', '', 'STx']);
    assert.equal(m.stopped, null);
    assert.equal(m.push('ST'), '');
    assert.equal(m.held, 'ST');
    assert.equal(m.flush(), 'ST', 'at the end, held text that never became a stop string is released');
  });

  test('several stop strings: the earliest occurrence wins; overlapping prefixes are held', () => {
    const m = new StopStringMatcher(['\n\n', 'User:', 'er']);
    assert.equal(m.push('Hi, Us'), 'Hi, ');
    assert.equal(m.push('er: hi'), '');
    assert.equal(m.stopped, 'User:');
    const p = new StopStringMatcher(['User:', 'er']);
    assert.equal(p.push('Pete'), 'Pet');
    assert.equal(p.push('r User:'), '');
    assert.equal(p.stopped, 'er');
    const n = new StopStringMatcher(['abc', 'bcd']);
    assert.equal(n.push('xab'), 'x');
    assert.equal(n.push('cd'), '');
    assert.equal(n.stopped, 'abc');
    assert.throws(() => new StopStringMatcher(['']), InvalidArgumentError);
  });

  test('property: emitted text is always a prefix of the text before the first stop, and all of it at the end', () => {
    const alphabet = fc.constantFrom('a', 'b', 'c', '\n', 'é', '🦙');
    const str = (min: number, max: number) => fc.array(alphabet, { minLength: min, maxLength: max }).map((a) => a.join(''));
    fc.assert(fc.property(str(0, 40), fc.array(str(1, 4), { minLength: 1, maxLength: 3 }), fc.array(fc.nat(6), { maxLength: 20 }), (text, stops, cuts) => {
      const m = new StopStringMatcher(stops);
      const firsts = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
      const end = firsts.length ? Math.min(...firsts) : text.length;
      const visible = text.slice(0, end);
      let out = '';
      let at = 0;
      for (const c of cuts) {
        out += m.push(text.slice(at, at + c));
        at = Math.min(text.length, at + c);
        if (!visible.startsWith(out)) return false;
      }
      out += m.push(text.slice(at));
      if (!visible.startsWith(out)) return false;
      out += m.flush();
      return out === visible && (firsts.length > 0) === (m.stopped !== null);
    }), { numRuns: 2000, seed: 4242 });
  });

  test('token criteria: several EOS ids and max new tokens', () => {
    const c = new StopCriteria({ maxNewTokens: 3, eosTokenIds: [2, 7] });
    assert.equal(c.isEos(7), true);
    assert.equal(c.isEos(3), false);
    assert.equal(c.reachedLength(2), false);
    assert.equal(c.reachedLength(3), true);
    assert.throws(() => new StopCriteria({ maxNewTokens: 0, eosTokenIds: [] }), InvalidArgumentError);
    assert.throws(() => new StopCriteria({ maxNewTokens: 5, eosTokenIds: [-1] }), InvalidArgumentError);
  });
});

describe('KV-cache policy', () => {
  const llama = (over: Record<string, unknown> = {}): ModelConfig => parseModelConfig({
    model_type: 'llama', vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9,
    num_key_value_heads: 3, max_position_embeddings: 8192, ...over,
  });

  test('profiles cap the cache in tokens and in bytes', () => {
    // SmolLM-135M shape: 2 (K, V) · 30 layers · 3 kv heads · 64 dims · 4 bytes = 46080 bytes per token
    const c = llama();
    assert.equal(kvBytesPerToken(c), 46080);
    assert.deepEqual(memoryProfile('low', c), { name: 'low', maxSequence: 512, prefillChunk: 32, kvCacheBytes: 512 * 46080 });
    assert.deepEqual(memoryProfile('balanced', c), { name: 'balanced', maxSequence: 2048, prefillChunk: 128, kvCacheBytes: 2048 * 46080 });
    assert.equal(memoryProfile('max', c).maxSequence, 8192);
    // an 8B-like shape: 2 · 32 · 8 · 128 · 4 = 262144 bytes per token → 'low' is bound by its 32 MiB budget
    const big = llama({ hidden_size: 4096, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 14336, max_position_embeddings: 131072 });
    assert.equal(kvBytesPerToken(big), 262144);
    assert.equal(memoryProfile('low', big).maxSequence, 128);
    assert.equal(memoryProfile('balanced', big).maxSequence, 1024);
    assert.equal(memoryProfile('max', big).maxSequence, 8192);
    const gpt2 = parseModelConfig({ model_type: 'gpt2', vocab_size: 50257, n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024 });
    assert.equal(kvBytesPerToken(gpt2), 2 * 12 * 768 * 4);
    assert.equal(memoryProfile('max', gpt2).maxSequence, 1024);
    assert.throws(() => memoryProfile('huge' as never, c), InvalidArgumentError);
  });

  test('sliding window: defaults, validation, kept tokens', () => {
    assert.equal(resolveSlidingWindow(undefined, 100), null);
    assert.equal(resolveSlidingWindow(false, 100), null);
    assert.deepEqual(resolveSlidingWindow(true, 100), { sink: 4, keep: 48 });
    assert.deepEqual(resolveSlidingWindow({ sink: 2, keep: 10 }, 100), { sink: 2, keep: 10 });
    assert.throws(() => resolveSlidingWindow({ sink: 50, keep: 50 }, 100), InvalidArgumentError);
    assert.throws(() => resolveSlidingWindow({ keep: 0 }, 100), InvalidArgumentError);
    assert.deepEqual(windowTokens([1, 2, 3, 4, 5, 6, 7, 8], { sink: 2, keep: 3 }), [1, 2, 6, 7, 8]);
    assert.deepEqual(windowTokens([1, 2, 3], { sink: 2, keep: 3 }), [1, 2, 3]);
  });
});
