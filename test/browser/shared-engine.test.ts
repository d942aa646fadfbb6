import { expect } from '@open-wc/testing';
import { WorkerEngine, defaultWorkerUrl } from '../../engine/index.js';

// Two connections to the same named SharedWorker behave like two tabs of the origin.
const src = new URL('/models/tiny-vit/', location.href).href;
const NAME = `accel-test-${Math.random().toString(36).slice(2)}`;
const image = async () => {
  const ref = (await (await fetch('/test/fixtures/models/tiny-vit/reference.json')).json()) as { images: { width: number; height: number; rgba_base64: string; logits: number[] }[] };
  const im = ref.images[0]!;
  return { im, rgba: { width: im.width, height: im.height, data: Uint8ClampedArray.from(atob(im.rgba_base64), (c) => c.charCodeAt(0)) } };
};

describe('shared engine (SharedWorker) across two "tabs"', () => {
  it('a model loaded by one tab is the same loaded copy for the other; it is freed when both have gone', async () => {
    const a = WorkerEngine.startShared(defaultWorkerUrl(), NAME);
    const b = WorkerEngine.startShared(defaultWorkerUrl(), NAME);
    expect(a.shared && b.shared).to.equal(true);
    const { im, rgba } = await image();
    const ma = await a.load(src, { backend: 'cpu' });
    expect(await b.loadedModels()).to.have.length(1);
    const progress: number[] = [];
    const mb = await b.load(src, { backend: 'cpu', onProgress: (p) => progress.push(p.loaded) });
    // the second tab joined the loaded copy: no download, still one model in the shared engine
    expect(progress).to.deep.equal([]);
    expect(await a.loadedModels()).to.have.length(1);
    const [ra, rb] = await Promise.all([ma.classify(rgba), mb.classify(rgba)]);
    expect(Array.from(ra.logits)).to.deep.equal(Array.from(rb.logits));
    expect(Math.max(...Array.from(ra.logits, (x, i) => Math.abs(x - im.logits[i]!)))).to.be.at.most(1e-3);
    a.terminate();
    // tab A is gone: B still has the model
    expect((await mb.classify(rgba)).labels[0]!.label).to.equal(ra.labels[0]!.label);
    expect(await b.loadedModels()).to.have.length(1);
    expect(await b.unload(mb)).to.equal(true);
    expect(await b.loadedModels()).to.have.length(0);
    b.terminate();
  });
});

describe('shared engine on webgpu', () => {
  it('loads and classifies on the webgpu backend inside the SharedWorker', async () => {
    const a = WorkerEngine.startShared(defaultWorkerUrl(), `${NAME}-gpu`);
    try {
      const { im, rgba } = await image();
      const m = await a.load(src, { backend: 'webgpu' });
      expect(m.info.backend).to.equal('webgpu');
      const r = await m.classify(rgba);
      expect(Math.max(...Array.from(r.logits, (x, i) => Math.abs(x - im.logits[i]!)))).to.be.at.most(1e-3);
    } finally {
      a.terminate();
    }
  });
});
