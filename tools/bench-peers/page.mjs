// In-page part of `npm run bench:peers` (tools/bench-peers/run.mjs drives it in headless Chromium; open
// /tools/bench-peers/ from `npm run serve` to run it by hand). Times greedy decoding of models/tiny-llama
// with this engine (wasm 1 and 2 threads on the safetensors and on the Q8_0/Q4_0 GGUF files, webgpu),
// onnxruntime-web (wasm EP, 1 and 2 threads) on the KV-cache ONNX exports in models/tiny-llama-onnx (float,
// int8 MatMulInteger, 4-bit MatMulNBits; tools/train/export_onnx.py) and @wllama/wllama (llama.cpp, CPU,
// 1 and 2 threads) on the same GGUF files. Every contender decodes the same prompt (ids from our tokenizer;
// wllama tokenizes the text itself and the count is checked) for the same number of new tokens, EOS
// ignored. Measured rounds alternate between contenders (one run of each per round, the order rotated every
// round) so that the load of this shared machine falls on all of them alike; figures are medians.
//
// Same definitions for all (those of engine/generate GenerationMetrics):
//   prefill tok/s = prompt tokens / (start of the prompt pass → first new token picked)
//   decode tok/s  = (new tokens − 1) / (first new token → last new token)
// wllama reports llama.cpp's own timings (prompt_ms, predicted_ms over predicted_n tokens, from the first
// new token to the last); decode is taken as (predicted_n − 1) / predicted_ms to match.

const ORT_DIST = '/node_modules/onnxruntime-web/dist/';
const WLLAMA_ESM = '/node_modules/@wllama/wllama/esm/';

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const abs = (path) => new URL(path, location.href).href;

function argmaxLast(logits) {
  const [, seq, vocab] = logits.dims;
  const data = logits.data;
  let best = 0;
  let bestV = -Infinity;
  for (let i = (seq - 1) * vocab, j = 0; j < vocab; i++, j++) {
    if (data[i] > bestV) {
      bestV = data[i];
      best = j;
    }
  }
  return best;
}

/** This engine: getEngine() (1 wasm thread) or its own Engine configured for 2 wasm threads. */
function accelContender({ engine, backend, threads, file, weights, precision }) {
  let model = null;
  const src = abs(file ? `/models/tiny-llama/${file}` : '/models/tiny-llama/');
  return {
    id: `accel ${backend}${backend === 'wasm' ? ` ${threads}T` : ''} ${weights}`,
    engine: 'accel',
    backend,
    threads,
    weights,
    precision,
    async setup() {
      model = await engine.load(src, { backend, maxSequence: 512 });
      return { backendThreads: model.backend.threads ?? null };
    },
    async run(ids, newTokens) {
      const r = await model.generate({ tokens: ids }, { maxNewTokens: newTokens, temperature: 0, ignoreEos: true, reuseCache: false }).result;
      return {
        prefillTokPerS: r.metrics.prefillTokensPerSecond,
        decodeTokPerS: r.metrics.decodeTokensPerSecond,
        ttftMs: r.metrics.timeToFirstTokenMs,
        promptTokens: r.metrics.prefillTokens,
        tokens: r.tokens,
      };
    },
    async teardown() {
      engine.unload(model);
    },
  };
}

/**
 * onnxruntime-web, wasm EP. numThreads is global to an ort module (read when its wasm starts), so each thread
 * count imports its own instance (a distinct module URL); sessions of one thread count share it.
 */
function ortContender(threads, file, weights, precision) {
  let ort = null;
  let session = null;
  let pastNames = [];
  let presentNames = [];
  let kvShape = null;
  return {
    id: `onnxruntime-web wasm ${threads}T ${weights}`,
    engine: 'onnxruntime-web',
    backend: 'wasm',
    threads,
    weights,
    precision,
    async setup() {
      ort = await import(`${ORT_DIST}ort.wasm.min.mjs?instance=${threads}`);
      ort.env.wasm.wasmPaths = ORT_DIST;
      ort.env.wasm.numThreads = threads;
      ort.env.wasm.proxy = false;
      session = await ort.InferenceSession.create(abs(`/models/tiny-llama-onnx/${file}`), {
        executionProviders: ['wasm'],
        graphOptimizationLevel: 'all',
      });
      pastNames = session.inputNames.filter((n) => n.startsWith('past_key_values.'));
      presentNames = pastNames.map((n) => n.replace('past_key_values.', 'present.'));
      const meta = session.inputMetadata?.find?.((m) => m.name === pastNames[0]);
      const dims = meta?.shape ?? [1, 2, 0, 32];
      kvShape = [1, Number(dims[1]) || 2, 0, Number(dims[3]) || 32];
      if (!pastNames.length || !presentNames.every((n) => session.outputNames.includes(n))) {
        throw new Error(`${file} has no KV cache inputs/outputs (inputs: ${session.inputNames.join(', ')})`);
      }
      return { ortVersion: ort.env.versions?.web ?? null, numThreads: ort.env.wasm.numThreads };
    },
    async run(ids, newTokens) {
      const empty = new Float32Array(0);
      let feeds = { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]) };
      for (const n of pastNames) feeds[n] = new ort.Tensor('float32', empty, kvShape);
      const t0 = performance.now();
      let out = await session.run(feeds);
      let next = argmaxLast(out.logits);
      const tokens = [next];
      const firstAt = performance.now();
      while (tokens.length < newTokens) {
        feeds = { input_ids: new ort.Tensor('int64', BigInt64Array.of(BigInt(next)), [1, 1]) };
        pastNames.forEach((n, i) => (feeds[n] = out[presentNames[i]]));
        out = await session.run(feeds);
        next = argmaxLast(out.logits);
        tokens.push(next);
      }
      const lastAt = performance.now();
      return {
        prefillTokPerS: (ids.length * 1000) / (firstAt - t0),
        decodeTokPerS: ((tokens.length - 1) * 1000) / (lastAt - firstAt),
        ttftMs: firstAt - t0,
        promptTokens: ids.length,
        tokens,
      };
    },
    async teardown() {
      await session.release();
    },
  };
}

/** @wllama/wllama (llama.cpp server-context in wasm), CPU only (n_gpu_layers 0), its own wasm from the package. */
function wllamaContender(threads, file, weights, precision) {
  let w = null;
  return {
    id: `wllama ${threads}T ${weights}`,
    engine: 'wllama',
    backend: 'wasm',
    threads,
    weights,
    precision,
    async setup() {
      const { Wllama } = await import(`${WLLAMA_ESM}index.js`);
      const quiet = { debug() {}, log() {}, warn: console.warn, error: console.error };
      w = new Wllama({ default: abs(`${WLLAMA_ESM}wasm/wllama.wasm`) }, { suppressNativeLog: true, logger: quiet });
      const blob = await (await fetch(abs(`/models/tiny-llama/${file}`))).blob();
      // Our GGUF files say tokenizer.ggml.pre = "gpt2"; llama.cpp only knows that pre-tokenizer as "gpt-2" and
      // refuses the vocabulary otherwise (tools/train/export_gguf.py writes the wrong name). Same regex, so
      // override it at load. wllama passes kv_overrides without the empty terminator entry llama.cpp asserts
      // on (common_model_params_to_llama aborts), hence the trailing '' entry.
      await w.loadModel([blob], { n_threads: threads, n_gpu_layers: 0, kv_overrides: { 'tokenizer.ggml.pre': 'str:gpt-2', '': 'int:0' } });
      if (!w.isModelLoaded()) throw new Error(`wllama did not load ${file}`);
      return { multithread: w.isMultithread(), numThreads: w.getNumThreads(), libllama: Wllama.getLibllamaVersion?.() ?? null };
    },
    // wllama's raw completion takes the prompt as text only (llama.cpp tokenizes it, BOS added); the run
    // checks that it made as many prompt tokens as our tokenizer.
    async run(ids, newTokens, prompt) {
      const r = await w.createCompletion({
        prompt,
        max_tokens: newTokens,
        temperature: 0,
        top_k: 1,
        ignore_eos: true,
        cache_prompt: false,
        stream: false,
      });
      const t = r.timings;
      if (!t) throw new Error('wllama returned no timings');
      if (t.prompt_n !== ids.length) throw new Error(`wllama tokenized the prompt to ${t.prompt_n} tokens, ours to ${ids.length}`);
      return {
        prefillTokPerS: (t.prompt_n * 1000) / t.prompt_ms,
        decodeTokPerS: ((t.predicted_n - 1) * 1000) / t.predicted_ms,
        ttftMs: t.prompt_ms,
        promptTokens: t.prompt_n,
        completionTokens: t.predicted_n,
        text: r.choices[0].text,
      };
    },
    async teardown() {
      await w.exit();
    },
  };
}

/**
 * Runs the whole comparison. Options: prompt, newTokens, reps, warmup, webgpu (bool), webgpuTokens,
 * webgpuReps, only (substring filter on contender ids).
 */
export async function runPeers(options) {
  const o = { prompt: 'The meaning of life is', newTokens: 128, reps: 7, warmup: 1, webgpu: true, webgpuTokens: 8, webgpuReps: 1, only: '', ...options };
  const log = (msg) => console.log(`[peers] ${msg}`);
  const { getEngine, Engine } = await import('/dist/accel.min.js');
  const engine1 = getEngine();
  const engine2 = new Engine().configure({ wasmThreads: 2 });
  const caps = await engine1.capabilities();
  const isolated = globalThis.crossOriginIsolated === true;
  const threadCounts = isolated ? [1, 2] : [1];

  const contenders = [];
  for (const t of threadCounts) {
    const engine = t === 1 ? engine1 : engine2;
    // precision: the class of weights compared across engines (f32 = float weights, f32 arithmetic).
    contenders.push(accelContender({ engine, backend: 'wasm', threads: t, weights: 'safetensors f16', precision: 'f32' }));
    contenders.push(accelContender({ engine, backend: 'wasm', threads: t, file: 'tiny-llama-q8_0.gguf', weights: 'gguf Q8_0', precision: 'q8' }));
    contenders.push(accelContender({ engine, backend: 'wasm', threads: t, file: 'tiny-llama-q4_0.gguf', weights: 'gguf Q4_0', precision: 'q4' }));
    contenders.push(ortContender(t, 'model.onnx', 'onnx f32', 'f32'));
    contenders.push(ortContender(t, 'model_q8.onnx', 'onnx q8 (MatMulInteger)', 'q8'));
    contenders.push(ortContender(t, 'model_q4.onnx', 'onnx q4 (MatMulNBits)', 'q4'));
    contenders.push(wllamaContender(t, 'tiny-llama-q8_0.gguf', 'gguf Q8_0', 'q8'));
    contenders.push(wllamaContender(t, 'tiny-llama-q4_0.gguf', 'gguf Q4_0', 'q4'));
  }
  const chosen = contenders.filter((c) => !o.only || o.only.split(',').some((s) => c.id.includes(s)));

  // Prompt ids from our tokenizer (BOS included), the same for everyone.
  const tokModel = await engine1.load(abs('/models/tiny-llama/'), { backend: 'cpu' });
  const ids = tokModel.tokenizer.encode(o.prompt, { addSpecialTokens: true });
  const decode = (tokens) => tokModel.tokenizer.decode(tokens, { skipSpecialTokens: false });
  log(`prompt ${JSON.stringify(o.prompt)} → ${ids.length} tokens; ${o.newTokens} new tokens; ${o.warmup} warm-up + ${o.reps} measured rounds; crossOriginIsolated ${isolated}`);

  const info = {};
  for (const c of chosen) {
    const t0 = performance.now();
    info[c.id] = { ...(await c.setup()), setupMs: performance.now() - t0 };
    log(`loaded ${c.id} in ${info[c.id].setupMs.toFixed(0)} ms ${JSON.stringify(info[c.id])}`);
  }
  for (let i = 0; i < o.warmup; i++) for (const c of chosen) await c.run(ids, o.newTokens, o.prompt);

  const samples = Object.fromEntries(chosen.map((c) => [c.id, []]));
  for (let r = 0; r < o.reps; r++) {
    const order = chosen.map((_, i) => chosen[(i + r) % chosen.length]);
    for (const c of order) samples[c.id].push(await c.run(ids, o.newTokens, o.prompt));
    log(`round ${r + 1}/${o.reps}: ` + chosen.map((c) => `${c.id} ${samples[c.id].at(-1).decodeTokPerS.toFixed(0)}`).join(' · '));
  }

  const rows = chosen.map((c) => {
    const s = samples[c.id];
    const last = s.at(-1);
    const tokens = last.tokens ?? null;
    return {
      id: c.id,
      engine: c.engine,
      backend: c.backend,
      threads: c.threads,
      weights: c.weights,
      precision: c.precision,
      promptTokens: last.promptTokens,
      newTokens: tokens ? tokens.length : last.completionTokens,
      decodeTokPerS: median(s.map((x) => x.decodeTokPerS)),
      prefillTokPerS: median(s.map((x) => x.prefillTokPerS)),
      ttftMs: median(s.map((x) => x.ttftMs)),
      decodeBest: Math.max(...s.map((x) => x.decodeTokPerS)),
      decodeSamples: s.map((x) => x.decodeTokPerS),
      prefillSamples: s.map((x) => x.prefillTokPerS),
      tokens,
      text: tokens ? decode(tokens) : last.text,
      setup: info[c.id],
    };
  });
  // wllama returns text only: how many of our greedy tokens (same weights file) does its text start with?
  for (const row of rows) {
    if (row.engine !== 'wllama') continue;
    const ours = rows.find((r) => r.engine === 'accel' && r.threads === row.threads && r.weights === row.weights);
    if (!ours) continue;
    let k = 0;
    while (k < ours.tokens.length && row.text.startsWith(decode(ours.tokens.slice(0, k + 1)))) k++;
    row.sameTokensAsAccel = { accel: ours.id, leading: k, of: ours.tokens.length };
  }
  for (const c of chosen) await c.teardown();

  // Our webgpu backend last and apart: on SwiftShader (software) it decodes about 1 token/s.
  if (o.webgpu && (!o.only || o.only.split(',').some((s) => 'accel webgpu'.includes(s)))) {
    const c = accelContender({ engine: engine1, backend: 'webgpu', threads: 1, weights: 'safetensors f16', precision: 'f32' });
    try {
      const t0 = performance.now();
      const setup = { ...(await c.setup()), setupMs: performance.now() - t0 };
      log(`loaded ${c.id} in ${setup.setupMs.toFixed(0)} ms; ${o.webgpuTokens} new tokens, ${o.webgpuReps} measured run(s)`);
      await c.run(ids, 2);
      const s = [];
      for (let r = 0; r < o.webgpuReps; r++) s.push(await c.run(ids, o.webgpuTokens));
      rows.push({
        id: c.id, engine: 'accel', backend: 'webgpu', threads: null, weights: c.weights, precision: c.precision,
        promptTokens: s[0].promptTokens, newTokens: o.webgpuTokens,
        decodeTokPerS: median(s.map((x) => x.decodeTokPerS)), prefillTokPerS: median(s.map((x) => x.prefillTokPerS)),
        ttftMs: median(s.map((x) => x.ttftMs)), decodeBest: Math.max(...s.map((x) => x.decodeTokPerS)), decodeSamples: s.map((x) => x.decodeTokPerS), prefillSamples: s.map((x) => x.prefillTokPerS),
        tokens: s.at(-1).tokens, text: decode(s.at(-1).tokens), setup, separateRun: true,
      });
      await c.teardown();
    } catch (e) {
      rows.push({ id: c.id, engine: 'accel', backend: 'webgpu', error: String(e?.message ?? e) });
    }
  }
  engine1.unload(tokModel);

  return {
    prompt: o.prompt,
    promptIds: ids,
    options: o,
    crossOriginIsolated: isolated,
    cores: navigator.hardwareConcurrency,
    userAgent: navigator.userAgent,
    browser: caps.browser,
    adapter: caps.webgpu?.adapter ?? null,
    rows,
  };
}
