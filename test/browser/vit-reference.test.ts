import { expect } from '@open-wc/testing';
import { getEngine, type BackendName, type Model } from '../../engine/index.js';
import { toRgbaImage } from '../../src/image-data.js';
import { maxAbsDiff } from '../helpers/compare.js';

// models/tiny-vit against transformers (tools/train/make_vision.py: PIL image processor, float32 CPU eager logits).
interface RefImage { name: string; png: string; width: number; height: number; rgba_base64: string; logits: number[]; top5: { label: string; index: number; score: number }[] }

const LOGIT_TOLERANCE = 1e-3;
const src = new URL('/models/tiny-vit/', location.href).href;
const reference = async () => ((await (await fetch('/test/fixtures/models/tiny-vit/reference.json')).json()) as { images: RefImage[] }).images;
const bytes = (b64: string) => Uint8ClampedArray.from(atob(b64), (c) => c.charCodeAt(0));

describe('image input → RGBA', () => {
  it('decodes the fixture PNGs (File, <img>, ImageBitmap) to exactly the reference bytes', async () => {
    for (const im of await reference()) {
      const blob = await (await fetch(`/${im.png}`)).blob();
      const want = bytes(im.rgba_base64);
      const fromFile = await toRgbaImage(new File([blob], `${im.name}.png`, { type: 'image/png' }));
      expect([fromFile.width, fromFile.height]).to.deep.equal([im.width, im.height]);
      expect(maxAbsDiff(Float32Array.from(fromFile.data), Float32Array.from(want)), `${im.name} from File`).to.equal(0);
      const img = new Image();
      img.src = `/${im.png}`;
      const fromImg = await toRgbaImage(img);
      expect(maxAbsDiff(Float32Array.from(fromImg.data), Float32Array.from(want)), `${im.name} from <img>`).to.equal(0);
      const fromBitmap = await toRgbaImage(await createImageBitmap(blob));
      expect(maxAbsDiff(Float32Array.from(fromBitmap.data), Float32Array.from(want)), `${im.name} from ImageBitmap`).to.equal(0);
    }
  });

  it('refuses a file that is not an image with InvalidArgumentError', async () => {
    const err = await toRgbaImage(new File(['hello'], 'a.txt', { type: 'text/plain' })).catch((e: unknown) => e);
    expect((err as { code?: string }).code).to.equal('invalid-argument');
    const bad = await toRgbaImage(new File([new Uint8Array([1, 2, 3])], 'b.png', { type: 'image/png' })).catch((e: unknown) => e);
    expect((bad as { code?: string }).code).to.equal('invalid-argument');
  });
});

for (const backend of ['cpu', 'wasm', 'webgpu'] as BackendName[]) {
  describe(`tiny-vit on ${backend}`, () => {
    let model: Model;
    before(async () => {
      model = await getEngine().load(src, { backend });
      expect(model.backend.name).to.equal(backend);
    });
    after(() => getEngine().unload(model));

    it(`logits within ${LOGIT_TOLERANCE} of PyTorch and the same top-5 labels`, async () => {
      expect(model.info.task).to.equal('image-classification');
      expect(model.info.architecture).to.equal('vit');
      for (const im of await reference()) {
        const out = await model.classify({ width: im.width, height: im.height, data: bytes(im.rgba_base64) }, { topK: 5 });
        const err = maxAbsDiff(out.logits, im.logits);
        console.log(`tiny-vit ${backend} ${im.name}: max |Δlogit| ${err.toExponential(2)}`);
        expect(err, `${im.name} max |Δlogit|`).to.be.at.most(LOGIT_TOLERANCE);
        expect(out.labels.map((l) => l.label), `${im.name} top-5`).to.deep.equal(im.top5.map((l) => l.label));
        out.labels.forEach((l, i) => expect(Math.abs(l.score - im.top5[i]!.score), `${im.name} score ${i}`).to.be.at.most(1e-4));
      }
    });

    it('refuses text calls and bad images with typed errors', async () => {
      expect(() => model.generate('hi')).to.throw(/not a text generator; use classify\(\)/);
      const err = await model.classify({ width: 2, height: 2, data: new Uint8ClampedArray(3) }).catch((e: unknown) => e);
      expect((err as { code?: string }).code).to.equal('invalid-argument');
    });
  });
}
