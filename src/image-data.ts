import { InvalidArgumentError } from '../engine/errors.js';
import type { RgbaImage } from '../engine/models/vit/image-processor.js';

/** What a page can hand to an image model: pixels it already has, an element showing an image, or a file. */
export type ImageInput = ImageData | RgbaImage | HTMLImageElement | HTMLCanvasElement | OffscreenCanvas | ImageBitmap | Blob;

function isRgba(x: unknown): x is RgbaImage {
  return typeof x === 'object' && x !== null && 'data' in x && 'width' in x && 'height' in x && ((x as RgbaImage).data instanceof Uint8ClampedArray || (x as RgbaImage).data instanceof Uint8Array);
}

/**
 * Any image input → RGBA bytes at its natural size (the engine's `RgbaImage`), drawn through an
 * (Offscreen)canvas without colour-space conversion, so a PNG's bytes arrive as stored.
 */
export async function toRgbaImage(input: ImageInput): Promise<RgbaImage> {
  if (isRgba(input)) return input;
  let source: CanvasImageSource;
  let width: number;
  let height: number;
  let bitmap: ImageBitmap | null = null;
  if (typeof Blob !== 'undefined' && input instanceof Blob) {
    if (input.type && !input.type.startsWith('image/')) throw new InvalidArgumentError(`The file is "${input.type}", not an image; give a PNG, JPEG, WebP or GIF.`);
    try {
      bitmap = await createImageBitmap(input, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    } catch (cause) {
      throw new InvalidArgumentError(`The file could not be decoded as an image (${(cause as Error).message || 'unknown format'}); give a PNG, JPEG, WebP or GIF.`);
    }
    source = bitmap;
    ({ width, height } = bitmap);
  } else if (typeof HTMLImageElement !== 'undefined' && input instanceof HTMLImageElement) {
    try {
      await input.decode();
    } catch (cause) {
      throw new InvalidArgumentError(`The <img> (${input.currentSrc || input.src || 'no src'}) could not be decoded; check its src. ${(cause as Error).message}`);
    }
    source = input;
    width = input.naturalWidth;
    height = input.naturalHeight;
  } else if ((typeof ImageBitmap !== 'undefined' && input instanceof ImageBitmap) || (typeof HTMLCanvasElement !== 'undefined' && input instanceof HTMLCanvasElement) || (typeof OffscreenCanvas !== 'undefined' && input instanceof OffscreenCanvas)) {
    source = input;
    ({ width, height } = input);
  } else {
    throw new InvalidArgumentError('Unsupported image input: give an ImageData, <img>, <canvas>, OffscreenCanvas, ImageBitmap, File or Blob.');
  }
  try {
    if (!width || !height) throw new InvalidArgumentError('The image has no pixels (width or height 0); wait for it to load.');
    const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(width, height) : Object.assign(document.createElement('canvas'), { width, height });
    const ctx = canvas.getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' }) as OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D | null;
    if (!ctx) throw new InvalidArgumentError('A 2D canvas is not available here, so the image cannot be read; pass ImageData instead.');
    ctx.drawImage(source, 0, 0);
    return ctx.getImageData(0, 0, width, height);
  } finally {
    bitmap?.close();
  }
}
