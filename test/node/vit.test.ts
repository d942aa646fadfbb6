import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CpuBackend } from '../../engine/backends/cpu/index.js';
import { FormatError, InvalidArgumentError } from '../../engine/errors.js';
import { parseModelConfig, type VitConfig } from '../../engine/formats/config.js';
import { parseImageProcessorConfig } from '../../engine/formats/preprocessor-config.js';
import { parseSafetensors } from '../../engine/formats/safetensors.js';
import { preprocessImage, resizeRgb, unfoldPatches } from '../../engine/models/vit/image-processor.js';
import { VitModel } from '../../engine/models/vit/vit.js';
import { safetensorsStore } from '../../engine/models/stores.js';

// models/tiny-vit (random weights) against transformers' ViTImageProcessor (PIL) and ViTForImageClassification
// on CPU in float32: tools/train/make_vision.py.
const dir = new URL('../../models/tiny-vit/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir));
const config = parseModelConfig(read('config.json').toString('utf8')) as VitConfig;
const processor = parseImageProcessorConfig(read('preprocessor_config.json').toString('utf8'), config.imageSize, 3);
interface RefImage { name: string; width: number; height: number; rgba_base64: string; pixel_values: number[]; pixel_values_bicubic: number[]; logits: number[]; top5: { label: string; index: number; score: number }[] }
const reference = JSON.parse(readFileSync(new URL('../fixtures/models/tiny-vit/reference.json', import.meta.url), 'utf8')) as { images: RefImage[] };
const rgba = (im: RefImage) => ({ width: im.width, height: im.height, data: new Uint8ClampedArray(Buffer.from(im.rgba_base64, 'base64')) });
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

test('config.json of a ViT classifier parses to labels in index order', () => {
  assert.equal(config.architecture, 'vit');
  assert.deepEqual([config.imageSize, config.patchSize, config.hiddenSize, config.numHiddenLayers, config.numAttentionHeads], [32, 8, 64, 2, 4]);
  assert.equal(config.labels.length, 10);
  assert.equal(config.labels[8], 'igloo');
  const raw = JSON.parse(read('config.json').toString('utf8')) as Record<string, unknown>;
  assert.throws(() => parseModelConfig({ ...raw, patch_size: 5 }), FormatError);
  assert.throws(() => parseModelConfig({ ...raw, id2label: { 0: 'a', 2: 'b' } }), /indices 0 … 1/);
  assert.throws(() => parseModelConfig({ ...raw, id2label: undefined }), /id2label/);
});

test('preprocessor_config.json: defaults, and unsupported resampling or cropping is refused', () => {
  assert.deepEqual([processor.height, processor.width, processor.resample], [32, 32, 2]);
  assert.deepEqual(processor.imageStd, [0.229, 0.224, 0.225]);
  const d = parseImageProcessorConfig('{}', 224, 3);
  assert.deepEqual([d.height, d.width, d.resample, d.rescaleFactor, d.imageMean], [224, 224, 2, 1 / 255, [0.5, 0.5, 0.5]]);
  assert.throws(() => parseImageProcessorConfig('{"resample": 1}', 224, 3), /lanczos/);
  assert.throws(() => parseImageProcessorConfig('{"do_center_crop": true}', 224, 3), FormatError);
  assert.throws(() => parseImageProcessorConfig('{"image_std": [0.5, 0, 0.5]}', 224, 3), /zero/);
  assert.throws(() => parseImageProcessorConfig('{"size": {"shortest_edge": 224}}', 224, 3), /height/);
  assert.throws(() => parseImageProcessorConfig('not json', 224, 3), FormatError);
});

test('pixel_values equal transformers\' PIL image processor (bilinear and bicubic, down- and upscaling) within 1e-6', () => {
  for (const im of reference.images) {
    assert.ok(maxAbs(preprocessImage(rgba(im), processor), im.pixel_values) <= 1e-6, `${im.name} bilinear`);
    assert.ok(maxAbs(preprocessImage(rgba(im), { ...processor, resample: 3 }), im.pixel_values_bicubic) <= 1e-6, `${im.name} bicubic`);
  }
});

test('resizing to the same size is the identity; patches unfold in (c, row, col) order', () => {
  const rgb = Uint8Array.from({ length: 5 * 4 * 3 }, (_, i) => (i * 37) % 256);
  assert.deepEqual(resizeRgb(rgb, 5, 4, 5, 4, 2), rgb);
  // 2 channels, 4×4, patch 2: patch (0, 1) takes columns 2..3 of rows 0..1 of each channel
  const px = Float32Array.from({ length: 32 }, (_, i) => i);
  const p = unfoldPatches(px, 2, 4, 4, 2);
  assert.deepEqual(Array.from(p.subarray(8, 16)), [2, 3, 6, 7, 18, 19, 22, 23]);
});

test('bad images are refused with InvalidArgumentError', () => {
  assert.throws(() => preprocessImage({ width: 2, height: 2, data: new Uint8ClampedArray(15) }, processor), InvalidArgumentError);
  assert.throws(() => preprocessImage({ width: 0, height: 2, data: new Uint8ClampedArray(0) }, processor), /positive integer/);
  assert.throws(() => preprocessImage({ width: 1, height: 1, data: [1, 2, 3, 4] as unknown as Uint8Array }, processor), /Uint8ClampedArray/);
});

test('tiny-vit on the cpu backend: logits within 1e-3 of PyTorch and the same top-5 labels', async () => {
  const bytes = new Uint8Array(read('model.safetensors'));
  const backend = new CpuBackend();
  const model = new VitModel(backend, config, processor, safetensorsStore([{ header: parseSafetensors(bytes), bytes }]));
  try {
    for (const im of reference.images) {
      const out = await model.classify(rgba(im), { topK: 5 });
      const err = maxAbs(out.logits, im.logits);
      assert.ok(err <= 1e-3, `${im.name}: max |Δlogit| ${err}`);
      assert.deepEqual(out.labels.map((l) => l.label), im.top5.map((l) => l.label));
      for (let i = 0; i < 5; i++) assert.ok(Math.abs(out.labels[i]!.score - im.top5[i]!.score) <= 1e-4);
    }
    await assert.rejects(model.classify(rgba(reference.images[0]!), { topK: 0 }), InvalidArgumentError);
    assert.equal((await model.classify(rgba(reference.images[0]!), { topK: 50 })).labels.length, 10);
  } finally {
    model.dispose();
  }
  assert.equal(backend.memory().allocatedBytes, 0);
});
