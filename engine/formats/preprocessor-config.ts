import { FormatError } from '../errors.js';

/**
 * `preprocessor_config.json` of a Hugging Face image processor (ViTImageProcessor and its kin) → the
 * steps accel's image pipeline runs: resize to height × width with PIL's filter `resample`, multiply by
 * `rescaleFactor`, then (x − mean) / std per channel. Defaults are ViTImageProcessor's.
 */
export interface ImageProcessorConfig {
  readonly doResize: boolean;
  readonly height: number;
  readonly width: number;
  /** PIL resampling filter: 2 bilinear, 3 bicubic (the only two accel implements). */
  readonly resample: 2 | 3;
  readonly doRescale: boolean;
  readonly rescaleFactor: number;
  readonly doNormalize: boolean;
  readonly imageMean: readonly number[];
  readonly imageStd: readonly number[];
  readonly raw: Readonly<Record<string, unknown>>;
}

const RESAMPLE_NAMES: Record<number, string> = { 0: 'nearest', 1: 'lanczos', 4: 'box', 5: 'hamming' };

/** Parses the file (text or parsed JSON); `channels` is the model's input channel count. */
export function parseImageProcessorConfig(input: string | unknown, defaultSize: number, channels: number, fileName = 'preprocessor_config.json'): ImageProcessorConfig {
  let json: unknown = input;
  if (typeof input === 'string') {
    try { json = JSON.parse(input); } catch (cause) {
      throw new FormatError(fileName, `the file is not valid JSON (${(cause as Error).message}); it is truncated or corrupt.`, { cause });
    }
  }
  const fail = (problem: string): never => { throw new FormatError(fileName, `${problem} Fix the file or use the one the checkpoint was saved with.`); };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('the file must hold a JSON object.');
  const o = json as Record<string, unknown>;
  const bool = (key: string, fallback: boolean): boolean => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'boolean') fail(`"${key}" must be true or false, got ${JSON.stringify(v)}.`);
    return v as boolean;
  };
  const positive = (v: unknown, what: string, integer: boolean): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isSafeInteger(v))) fail(`${what} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(v)}.`);
    return v as number;
  };
  let height = defaultSize;
  let width = defaultSize;
  const size = o['size'];
  if (typeof size === 'number') height = width = positive(size, '"size"', true);
  else if (typeof size === 'object' && size !== null && !Array.isArray(size)) {
    const s = size as Record<string, unknown>;
    if (s['height'] === undefined || s['width'] === undefined) fail(`"size" must give "height" and "width" (shortest_edge resizing with a crop is not supported), got ${JSON.stringify(size)}.`);
    height = positive(s['height'], '"size.height"', true);
    width = positive(s['width'], '"size.width"', true);
  } else if (size !== undefined && size !== null) fail(`"size" must be {"height", "width"}, got ${JSON.stringify(size)}.`);
  const resample = o['resample'] ?? 2;
  if (resample !== 2 && resample !== 3) {
    fail(`"resample" = ${JSON.stringify(resample)}${typeof resample === 'number' && RESAMPLE_NAMES[resample] ? ` (${RESAMPLE_NAMES[resample]})` : ''} is not supported; accel resizes with PIL's bilinear (2) or bicubic (3) filter.`);
  }
  if (bool('do_center_crop', false)) fail('"do_center_crop" is true; center cropping is not supported by accel\'s image pipeline.');
  const perChannel = (key: string, fallback: number): number[] => {
    const v = o[key] ?? fallback;
    const list = Array.isArray(v) ? v : [v];
    if (list.length === 1) return Array.from({ length: channels }, () => list[0] as number).map((x) => (typeof x === 'number' && Number.isFinite(x) ? x : fail(`"${key}" must hold numbers, got ${JSON.stringify(v)}.`)));
    if (list.length !== channels || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) fail(`"${key}" must be a number or ${channels} numbers (one per channel), got ${JSON.stringify(v)}.`);
    return list as number[];
  };
  const imageStd = perChannel('image_std', 0.5);
  if (imageStd.some((x) => x === 0)) fail('"image_std" has a zero; normalising would divide by zero.');
  return {
    doResize: bool('do_resize', true),
    height,
    width,
    resample: resample as 2 | 3,
    doRescale: bool('do_rescale', true),
    rescaleFactor: positive(o['rescale_factor'] ?? 1 / 255, '"rescale_factor"', false),
    doNormalize: bool('do_normalize', true),
    imageMean: perChannel('image_mean', 0.5),
    imageStd,
    raw: Object.freeze({ ...o }),
  };
}
