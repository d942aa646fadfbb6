import { InvalidArgumentError } from '../../errors.js';
import type { ImageProcessorConfig } from '../../formats/preprocessor-config.js';

/**
 * Pixels as a page gets them from a canvas (`ImageData`) or a decoder: row-major RGBA, 8 bits a channel.
 * The engine takes this plain shape so that it runs in Workers and Node; elements turn `<img>`,
 * `ImageBitmap` and `File` into it (src/image-data.ts).
 */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  /** width · height · 4 bytes, RGBA; alpha is ignored (as PIL's RGBA → RGB conversion drops it). */
  readonly data: Uint8ClampedArray | Uint8Array;
}

// Pillow's resampling (libImaging/Resample.c) in 8-bit fixed point: both passes round to bytes, so
// matching it bit for bit is what makes pixel_values equal transformers' to float32 rounding.
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

interface Filter {
  support: number;
  at(x: number): number;
}

const BILINEAR: Filter = {
  support: 1,
  at(x) {
    x = Math.abs(x);
    return x < 1 ? 1 - x : 0;
  },
};

// Keys' cubic with a = −0.5, as Pillow's bicubic
const BICUBIC: Filter = {
  support: 2,
  at(x) {
    const a = -0.5;
    x = Math.abs(x);
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
  },
};

/** Per output index: first input index, tap count, and fixed-point weights (ksize apart). */
function coefficients(inSize: number, outSize: number, filter: Filter): { first: Int32Array; count: Int32Array; k: Float64Array; ksize: number } {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const k = new Float64Array(outSize * ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.at((x + xmin - center + 0.5) * ss);
      k[xx * ksize + x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[xx * ksize + x]! / ww : k[xx * ksize + x]!;
      k[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    first[xx] = xmin;
    count[xx] = xmax;
  }
  return { first, count, k, ksize };
}

function clip8(acc: number): number {
  const v = Math.floor(acc / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** One resampling pass along x (`horizontal`) or y over an RGB byte image [h, w, 3]. */
function pass(src: Uint8Array, w: number, h: number, outSize: number, horizontal: boolean, filter: Filter): Uint8Array {
  const { first, count, k, ksize } = coefficients(horizontal ? w : h, outSize, filter);
  const ow = horizontal ? outSize : w;
  const oh = horizontal ? h : outSize;
  const out = new Uint8Array(ow * oh * 3);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const o = horizontal ? x : y;
      const base = o * ksize;
      const n = count[o]!;
      const f = first[o]!;
      for (let c = 0; c < 3; c++) {
        let acc = ONE / 2;
        for (let i = 0; i < n; i++) {
          const si = horizontal ? (y * w + f + i) * 3 + c : ((f + i) * w + x) * 3 + c;
          acc += src[si]! * k[base + i]!;
        }
        out[(y * ow + x) * 3 + c] = clip8(acc);
      }
    }
  }
  return out;
}

/** RGB bytes [h, w, 3] resized like PIL's `Image.resize((width, height), resample)`. */
export function resizeRgb(rgb: Uint8Array, width: number, height: number, outWidth: number, outHeight: number, resample: 2 | 3): Uint8Array {
  const filter = resample === 3 ? BICUBIC : BILINEAR;
  let img = rgb;
  if (outWidth !== width) img = pass(img, width, height, outWidth, true, filter);
  if (outHeight !== height) img = pass(img, outWidth, height, outHeight, false, filter);
  return img === rgb ? rgb.slice() : img;
}

export function checkImage(image: RgbaImage): void {
  if (typeof image !== 'object' || image === null) throw new InvalidArgumentError('classify() needs an image: {width, height, data} with RGBA bytes (an ImageData works).');
  const { width, height, data } = image;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width <= 0 || height <= 0) {
    throw new InvalidArgumentError(`The image must have a positive integer width and height, got ${String(width)} × ${String(height)}.`);
  }
  if (!(data instanceof Uint8ClampedArray || data instanceof Uint8Array)) throw new InvalidArgumentError('The image data must be a Uint8ClampedArray or Uint8Array of RGBA bytes (as ImageData.data).');
  if (data.length !== width * height * 4) {
    throw new InvalidArgumentError(`The image data has ${data.length} bytes; ${width} × ${height} RGBA needs ${width * height * 4}.`);
  }
}

/**
 * RGBA pixels → pixel_values f32 [C, H, W] as transformers' image processor makes them: alpha dropped,
 * resized with PIL's filter, times rescale_factor, (x − mean) / std.
 */
export function preprocessImage(image: RgbaImage, cfg: ImageProcessorConfig): Float32Array {
  checkImage(image);
  const { width, height, data } = image;
  if (cfg.imageMean.length !== 3) throw new InvalidArgumentError(`The image processor expects ${cfg.imageMean.length} channels; accel feeds RGB images (3 channels).`);
  let rgb: Uint8Array = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgb[i] = data[j]!;
    rgb[i + 1] = data[j + 1]!;
    rgb[i + 2] = data[j + 2]!;
  }
  let w = width;
  let h = height;
  if (cfg.doResize) {
    rgb = resizeRgb(rgb, width, height, cfg.width, cfg.height, cfg.resample);
    w = cfg.width;
    h = cfg.height;
  }
  const out = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) {
    const mean = cfg.doNormalize ? cfg.imageMean[c]! : 0;
    const std = cfg.doNormalize ? cfg.imageStd[c]! : 1;
    const scale = cfg.doRescale ? cfg.rescaleFactor : 1;
    for (let p = 0; p < h * w; p++) out[c * h * w + p] = (rgb[p * 3 + c]! * scale - mean) / std;
  }
  return out;
}

/**
 * pixel_values [C, H, W] → patches [N, C · P · P] with N = (H/P)(W/P) in row-major patch order; each row
 * is flattened (c, i, j) like the Conv2d weight [D, C, P, P], so the patch embedding is one matmul.
 */
export function unfoldPatches(pixels: Float32Array, channels: number, height: number, width: number, patch: number): Float32Array {
  const gh = height / patch;
  const gw = width / patch;
  const k = channels * patch * patch;
  const out = new Float32Array(gh * gw * k);
  for (let py = 0; py < gh; py++) {
    for (let px = 0; px < gw; px++) {
      const row = (py * gw + px) * k;
      for (let c = 0; c < channels; c++) {
        for (let i = 0; i < patch; i++) {
          const src = c * height * width + (py * patch + i) * width + px * patch;
          out.set(pixels.subarray(src, src + patch), row + (c * patch + i) * patch);
        }
      }
    }
  }
  return out;
}
