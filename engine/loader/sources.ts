import { AbortError, FileNotFoundError, SourceError } from '../errors.js';
import { fetchRange, readAll, type HttpOptions } from './http.js';
import { IpfsSource, parseCid, splitPath } from './ipfs.js';

export interface ByteRange {
  start: number;
  /** Exclusive; omitted = to the end of the file. */
  end?: number;
}

export interface OpenOptions {
  signal?: AbortSignal;
  range?: ByteRange;
}

export interface OpenedFile {
  /** The file's bytes (or the requested range) in order; failures arrive as typed AccelErrors. */
  stream: ReadableStream<Uint8Array>;
  /** Bytes `stream` will deliver, when known before the body. */
  length: number | undefined;
  /** Size of the whole file, when known. */
  fileSize: number | undefined;
  /** True when the source checked every byte itself (content addressing). */
  verified: boolean;
  /** Where the bytes come from, for messages. */
  url: string;
}

export interface SourceFile {
  name: string;
  size: number | undefined;
  /** Hex sha256 when the source publishes one (Hugging Face LFS files). */
  sha256?: string;
}

/** Where a model's files come from. One implementation per kind; the loader sees only this. */
export interface ModelSource {
  readonly kind: 'http' | 'hf' | 'ipfs' | 'file';
  /** Stable identity of the model folder (cache keys start with it). */
  readonly id: string;
  /** Whether completed files should go to the model cache (local files are on disk already). */
  readonly cacheable: boolean;
  /** Human-readable location of `file` (URL or name). */
  resolve(file: string): string;
  /** Stable cache key of one file. */
  cacheKey(file: string): string;
  /** The files in the folder, where the source can enumerate them. */
  list?(signal?: AbortSignal): Promise<SourceFile[]>;
  open(file: string, opts?: OpenOptions): Promise<OpenedFile>;
}

export interface SourceOptions extends HttpOptions {
  /** Base URL that `hf:` sources resolve against. */
  hubBase?: string;
  /** IPFS gateways tried in order; none are assumed, so ipfs:// needs at least one. */
  gateways?: string[];
}

export const DEFAULT_HUB_BASE = 'https://huggingface.co';

export type SourceInput = string | URL | Blob | File | FileList | readonly (File | Blob)[] | ModelSource;

/**
 * Turns a file name into an encoded relative URL path. Names are never parsed as URLs, so a file called
 * `https://elsewhere/x` or `../../x` cannot steer a fetch outside the folder the user configured.
 */
export function encodeFilePath(file: string): string {
  const segments = file.split('/');
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') throw new SourceError(`file name "${file}" must be a relative path without empty, "." or ".." segments`);
  }
  return segments.map(encodeURIComponent).join('/');
}

function httpUrl(text: string, what: string): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch (err) {
    throw new SourceError(`${what} "${text}" is not an absolute URL`, { cause: err });
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new SourceError(`${what} "${text}" must use http: or https:`);
  return u;
}

function withinBase(url: string, base: string, file: string): string {
  if (!url.startsWith(base)) throw new SourceError(`file "${file}" resolves outside ${base}`);
  return url;
}

/** A folder on any web server: files resolve relative to the base URL. */
export class HttpSource implements ModelSource {
  readonly kind: 'http' | 'hf' = 'http';
  readonly id: string;
  readonly cacheable = true;
  /** Folder URL ending in '/'. */
  protected readonly base: string;
  /** The URL exactly as configured: `open('')` fetches it, for single-file sources. */
  protected readonly exact: string;

  constructor(base: string | URL, protected readonly opts: HttpOptions = {}) {
    const u = httpUrl(String(base), 'model URL');
    u.hash = '';
    this.exact = u.href;
    u.search = '';
    this.base = u.href.endsWith('/') ? u.href : `${u.href}/`;
    this.id = this.base;
  }

  resolve(file: string): string {
    if (file === '') return this.exact;
    return withinBase(new URL(encodeFilePath(file), this.base).href, this.base, file);
  }

  cacheKey(file: string): string {
    return file === '' ? this.exact : this.id + file;
  }

  async open(file: string, opts: OpenOptions = {}): Promise<OpenedFile> {
    const url = this.resolve(file);
    const body = await fetchRange(url, opts.range?.start ?? 0, opts.range?.end, { ...this.opts, signal: opts.signal });
    return { stream: body.stream, length: body.length, fileSize: body.fileSize, verified: false, url };
  }
}

const REPO_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** `hf:owner/name[@revision]` → `${hubBase}/owner/name/resolve/revision/file`. */
export class HubSource extends HttpSource {
  override readonly kind = 'hf';
  override readonly id: string;

  constructor(
    readonly owner: string,
    readonly name: string,
    readonly revision: string,
    readonly hubBase: string,
    opts: HttpOptions = {},
  ) {
    const hub = httpUrl(hubBase, 'hub base').href.replace(/\/+$/, '');
    if (!REPO_PART.test(owner) || !REPO_PART.test(name) || owner.includes('..') || name.includes('..')) {
      throw new SourceError(`"${owner}/${name}" is not a valid hub repository name`);
    }
    if (!revision || revision.includes('..')) throw new SourceError(`"${revision}" is not a valid revision`);
    super(`${hub}/${owner}/${name}/resolve/${encodeURIComponent(revision)}/`, opts);
    this.hubBase = hub;
    const where = hub === DEFAULT_HUB_BASE ? '' : `${hub}|`;
    this.id = `hf:${where}${owner}/${name}@${revision}/`;
  }

  override resolve(file: string): string {
    if (file === '') throw new SourceError(`name a file inside hf:${this.owner}/${this.name}`);
    return super.resolve(file);
  }

  override cacheKey(file: string): string {
    return this.id + file;
  }

  /** File names, sizes and LFS sha256s from the hub's model API. */
  async list(signal?: AbortSignal): Promise<SourceFile[]> {
    const url = `${this.hubBase}/api/models/${this.owner}/${this.name}/revision/${encodeURIComponent(this.revision)}?blobs=true`;
    const body = await fetchRange(url, 0, undefined, { ...this.opts, signal, noRange: true });
    const bytes = await readAll(body.stream, body.length, 64 * 1024 * 1024, url);
    let info: { siblings?: { rfilename?: unknown; size?: unknown; lfs?: { sha256?: unknown } }[] };
    try {
      info = JSON.parse(new TextDecoder().decode(bytes));
    } catch (err) {
      throw new SourceError(`the hub listing at ${url} is not JSON`, { cause: err });
    }
    const out: SourceFile[] = [];
    for (const s of info.siblings ?? []) {
      if (typeof s.rfilename !== 'string') continue;
      const f: SourceFile = { name: s.rfilename, size: typeof s.size === 'number' ? s.size : undefined };
      if (typeof s.lfs?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(s.lfs.sha256)) f.sha256 = s.lfs.sha256;
      out.push(f);
    }
    return out;
  }
}

function isFileList(x: unknown): x is FileList {
  return typeof FileList !== 'undefined' && x instanceof FileList;
}

/** Local bytes (drag-and-drop, <input type=file>, a folder as a list of Files). */
export class FileSource implements ModelSource {
  readonly kind = 'file';
  readonly id: string;
  readonly cacheable = false;
  private readonly files = new Map<string, Blob>();

  constructor(input: Blob | File | FileList | readonly (File | Blob)[]) {
    const list: Blob[] = isFileList(input) ? Array.from(input) : Array.isArray(input) ? [...(input as readonly Blob[])] : [input as Blob];
    if (list.length === 0) throw new SourceError('no files were given');
    const paths = list.map((b) => {
      const f = b as Partial<File>;
      return f.webkitRelativePath || f.name || '';
    });
    // A dropped folder names files "folder/config.json"; the model's own names start below it.
    const first = paths[0]!.split('/')[0]!;
    const shared = paths.every((p) => p.includes('/') && p.split('/')[0] === first);
    list.forEach((b, i) => {
      const name = shared ? paths[i]!.slice(first.length + 1) : paths[i]!;
      this.files.set(name, b);
    });
    if (list.length === 1) this.files.set('', list[0]!);
    this.id = `file:${[...this.files.keys()].filter((k) => k).join(',')}`;
  }

  resolve(file: string): string {
    return file || '(local file)';
  }

  cacheKey(file: string): string {
    return `${this.id}#${file}`;
  }

  async list(): Promise<SourceFile[]> {
    return [...this.files].filter(([k]) => k !== '' || this.files.size === 1).map(([name, b]) => ({ name, size: b.size }));
  }

  async open(file: string, opts: OpenOptions = {}): Promise<OpenedFile> {
    if (opts.signal?.aborted) throw new AbortError(`Reading ${file}`, { cause: opts.signal.reason });
    const blob = this.files.get(file);
    if (!blob) throw new FileNotFoundError(file, `the selected files (${[...this.files.keys()].filter((k) => k).join(', ')})`);
    const start = Math.min(opts.range?.start ?? 0, blob.size);
    const end = Math.min(opts.range?.end ?? blob.size, blob.size);
    const part = blob.slice(start, Math.max(start, end));
    return { stream: part.stream(), length: part.size, fileSize: blob.size, verified: false, url: file };
  }
}

/**
 * Parses what users type or drop into a source:
 * `https://host/folder/`, `hf:owner/name@rev`, `ipfs://CID/path`, a File, Blob or FileList.
 */
export function createSource(src: SourceInput, opts: SourceOptions = {}): ModelSource {
  if (typeof src === 'object' && src !== null && 'open' in src && 'cacheKey' in src) return src as ModelSource;
  if (typeof Blob !== 'undefined' && (src instanceof Blob || isFileList(src) || Array.isArray(src))) {
    return new FileSource(src as Blob | FileList | (File | Blob)[]);
  }
  const text = String(src).trim();
  const hf = /^hf:(?:\/\/)?([^/@]+)\/([^/@]+)(?:@(.+))?$/.exec(text);
  if (hf) return new HubSource(hf[1]!, hf[2]!, hf[3] ?? 'main', opts.hubBase ?? DEFAULT_HUB_BASE, opts);
  if (text.startsWith('hf:')) throw new SourceError(`"${text}" is not of the form hf:owner/name[@revision]`);
  if (/^ipfs:/i.test(text)) {
    const rest = text.replace(/^ipfs:(\/\/)?/i, '');
    const [cid, ...path] = splitPath(rest);
    if (!cid) throw new SourceError(`"${text}" has no CID`);
    return new IpfsSource(parseCid(cid), path, { ...opts, gateways: opts.gateways ?? [] });
  }
  if (/^https?:\/\//i.test(text)) return new HttpSource(text, opts);
  throw new SourceError(`"${text}" is not a supported source (https://…, hf:owner/name, ipfs://CID, or a File)`);
}
