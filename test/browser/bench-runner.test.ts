import { expect } from '@open-wc/testing';
import { benchmarkGeneration, getEngine, type GenerationBenchmark } from '../../engine/index.js';

const SRC = new URL('/__models/tiny-llama/', location.href).href;

describe('benchmark runner on webgpu', function () {
  this.timeout(300_000);

  it('times generation on the GPU clock when the device has timestamp-query, and says so when it has not', async () => {
    const engine = getEngine();
    const model = await engine.load(SRC, { backend: 'webgpu', maxSequence: 16 });
    let r: GenerationBenchmark;
    try {
      r = await benchmarkGeneration(model, { iterations: 2, warmup: 1, promptTokens: 4, maxNewTokens: 2 });
    } finally {
      engine.unload(model);
    }
    const device = (model.backend as unknown as { device: GPUDevice }).device;
    expect(r.backend).to.equal('webgpu');
    expect(r.samples.map((s) => s.completionTokens)).to.deep.equal([2, 2]);
    expect(r.memory.backendAllocatedBytes).to.be.a('number');
    if (device.features.has('timestamp-query')) {
      expect(r.gpuTiming).to.equal('measured');
      for (const s of r.samples) {
        expect(s.gpuMs, 'GPU span').to.be.a('number').and.above(0);
        // the GPU markers bracket the iteration: the span is about its wall time, never far beyond it
        expect(s.gpuMs!).to.be.above(s.ms * 0.5).and.below(s.ms + 100);
      }
      expect(r.gpuMs!.count).to.equal(2);
    } else {
      expect(r.gpuTiming).to.equal('no-timestamp-query');
      expect(r.gpuMs).to.equal(null);
      expect(r.samples.every((s) => s.gpuMs === null)).to.equal(true);
    }
    console.log(`webgpu timestamp-query: ${device.features.has('timestamp-query')}; gpuMs ${JSON.stringify(r.samples.map((s) => [s.ms.toFixed(1), s.gpuMs?.toFixed(2) ?? null]))}`);
  });
});
