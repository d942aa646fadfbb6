import * as dagPb from '@ipld/dag-pb';
import { base36 } from 'multiformats/bases/base36';
import { CID } from 'multiformats/cid';
import { AbortError, AccelError, FileNotFoundError, IntegrityError, SourceError } from '../errors.js';
import { fetchRange, readAll, type HttpOptions } from './http.js';
import { verifyBlock } from './integrity.js';
import { decodeUnixFs, unixFsFileSize, type UnixFsData } from './unixfs.js';
import type { ModelSource, OpenedFile, OpenOptions, SourceFile } from './sources.js';

const RAW = 0x55;
const DAG_PB = 0x70;
/** Bitswap's block limit is 2 MiB; twice that leaves room for odd importers while bounding memory. */
const MAX_BLOCK_BYTES = 4 * 1024 * 1024;
/** Child blocks fetched ahead of the one being streamed, per DAG level. */
const PREFETCH = 4;

export interface IpfsOptions extends HttpOptions {
  /** Gateway base URLs tried in order for every block, e.g. ['https://ipfs.io', 'https://dweb.link']. */
  gateways: string[];
}

export function parseCid(text: string): CID {
  try {
    return text.startsWith('k') ? CID.parse(text, base36) : CID.parse(text);
  } catch (err) {
    throw new SourceError(`"${text}" is not a CID`, { cause: err });
  }
}

interface Node {
  cid: CID;
  /** Raw leaf bytes, or the decoded dag-pb node with its UnixFS metadata. */
  raw?: Uint8Array;
  pb?: dagPb.PBNode;
  fs?: UnixFsData;
}

/**
 * Content-addressed source: every block is fetched raw from a configured gateway and hashed against its
 * CID before a single byte of it is used, so a lying gateway can only make a load fail, never corrupt it.
 */
export class IpfsSource implements ModelSource {
  readonly kind = 'ipfs';
  readonly id: string;
  readonly cacheable = true;
  private readonly gateways: string[];
  private readonly resolved = new Map<string, Promise<Node>>();
  private preferred = 0;

  constructor(
    readonly root: CID,
    readonly path: string[],
    private readonly opts: IpfsOptions,
  ) {
    if (opts.gateways.length === 0) throw new SourceError('ipfs:// needs at least one gateway URL in options.gateways');
    this.gateways = opts.gateways.map((g) => {
      let u: URL;
      try {
        u = new URL(g);
      } catch (err) {
        throw new SourceError(`gateway "${g}" is not an absolute URL`, { cause: err });
      }
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new SourceError(`gateway "${g}" must be http(s)`);
      return u.href.replace(/\/+$/, '');
    });
    // Content addressing makes the id gateway-independent: the same CID is the same bytes anywhere.
    this.id = `ipfs:${root.toV1().toString()}${path.length ? '/' + path.join('/') : ''}`;
  }

  resolve(file: string): string {
    return `ipfs://${this.root}/${[...this.path, ...splitPath(file)].join('/')}`;
  }

  cacheKey(file: string): string {
    return file ? `${this.id}/${file}` : this.id;
  }

  blockUrl(gateway: string, cid: CID): string {
    return `${gateway}/ipfs/${cid.toString()}?format=raw`;
  }

  /** Fetches one block, trying each gateway in order until one returns bytes that match the CID. */
  async fetchBlock(cid: CID, signal: AbortSignal | undefined): Promise<Uint8Array> {
    if (cid.multihash.code === 0x00) {
      await verifyBlock(cid, cid.multihash.digest);
      return cid.multihash.digest;
    }
    let integrity: IntegrityError | undefined;
    let last: unknown;
    // The gateway that served the last block goes first, so a dead one costs its timeout once, not per block.
    const order = [this.gateways[this.preferred]!, ...this.gateways.filter((_, i) => i !== this.preferred)];
    for (const gw of order) {
      if (signal?.aborted) throw new AbortError(`Fetching IPFS block ${cid}`, { cause: signal.reason });
      const url = this.blockUrl(gw, cid);
      try {
        const body = await fetchRange(url, 0, undefined, {
          ...this.opts,
          signal,
          noRange: true,
          headers: { ...this.opts.headers, Accept: 'application/vnd.ipld.raw' },
        });
        const bytes = await readAll(body.stream, body.length, MAX_BLOCK_BYTES, url);
        await verifyBlock(cid, bytes);
        this.preferred = this.gateways.indexOf(gw);
        return bytes;
      } catch (err) {
        if (err instanceof AbortError || signal?.aborted) throw err instanceof AbortError ? err : new AbortError(`Fetching IPFS block ${cid}`, { cause: err });
        if (err instanceof IntegrityError) integrity = err;
        else if (!(err instanceof AccelError)) throw err;
        last = err;
      }
    }
    // A hash mismatch says more than a later gateway's 404, so it wins the report.
    throw integrity ?? last;
  }

  private async node(cid: CID, block: Uint8Array): Promise<Node> {
    if (cid.code === RAW) return { cid, raw: block };
    if (cid.code !== DAG_PB) throw new SourceError(`CID ${cid} has codec 0x${cid.code.toString(16)}; only raw and dag-pb (UnixFS) are supported`);
    let pb: dagPb.PBNode;
    let fs: UnixFsData;
    try {
      pb = dagPb.decode(block);
      if (!pb.Data) throw new Error('dag-pb node without UnixFS data');
      fs = decodeUnixFs(pb.Data);
    } catch (err) {
      throw new SourceError(`block ${cid} is not a valid UnixFS node: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    return { cid, pb, fs };
  }

  private async load(cid: CID, signal: AbortSignal | undefined): Promise<Node> {
    return this.node(cid, await this.fetchBlock(cid, signal));
  }

  /** Walks directory links from the root; results are memoised per path so files share the walk. */
  private lookup(segments: string[], signal: AbortSignal | undefined): Promise<Node> {
    const key = segments.join('/');
    const hit = this.resolved.get(key);
    if (hit) return hit;
    const p = (async () => {
      if (segments.length === 0) return this.load(this.root, signal);
      const parent = await this.lookup(segments.slice(0, -1), signal);
      const name = segments[segments.length - 1]!;
      if (!parent.fs || (parent.fs.type !== 'directory' && parent.fs.type !== 'hamt-sharded-directory')) {
        throw new FileNotFoundError(name, `${this.resolve(segments.slice(this.path.length, -1).join('/'))} (not a directory)`);
      }
      if (parent.fs.type === 'hamt-sharded-directory') {
        throw new SourceError(`${this.resolve(segments.slice(this.path.length, -1).join('/'))} is a sharded (HAMT) directory; give the CID of the file or a plain directory`);
      }
      const link = parent.pb!.Links.find((l) => l.Name === name);
      if (!link) throw new FileNotFoundError(name, this.resolve(segments.slice(this.path.length, -1).join('/')));
      return this.load(link.Hash, signal);
    })();
    this.resolved.set(key, p);
    p.catch(() => this.resolved.delete(key));
    return p;
  }

  async list(signal?: AbortSignal): Promise<SourceFile[]> {
    const dir = await this.lookup(this.path, signal);
    if (!dir.fs || dir.fs.type !== 'directory') {
      return [{ name: '', size: dir.raw ? dir.raw.length : dir.fs ? fileSizeOf(dir) : undefined }];
    }
    return dir.pb!.Links.map((l) => ({ name: l.Name ?? '', size: undefined }));
  }

  async open(file: string, opts: OpenOptions = {}): Promise<OpenedFile> {
    const segments = [...this.path, ...splitPath(file)];
    const ctrl = new AbortController();
    const outer = opts.signal;
    const onAbort = () => ctrl.abort(outer!.reason);
    if (outer?.aborted) throw new AbortError(`Opening ${this.resolve(file)}`, { cause: outer.reason });
    outer?.addEventListener('abort', onAbort, { once: true });
    const unlink = () => outer?.removeEventListener('abort', onAbort);
    let root: Node;
    try {
      root = await this.lookup(segments, ctrl.signal);
    } catch (err) {
      unlink();
      throw err;
    }
    const size = root.raw ? root.raw.length : fileSizeOf(root);
    const start = Math.min(opts.range?.start ?? 0, size);
    const end = Math.min(opts.range?.end ?? size, size);
    const it = this.walk(root, Promise.resolve(root), start, Math.max(start, end), size, ctrl.signal);
    const stream = new ReadableStream<Uint8Array>(
      {
        async pull(c) {
          try {
            const r = await it.next();
            if (r.done) {
              unlink();
              c.close();
            } else c.enqueue(r.value);
          } catch (err) {
            unlink();
            ctrl.abort();
            c.error(err);
          }
        },
        async cancel() {
          unlink();
          ctrl.abort();
          await it.return(undefined).catch(() => {});
        },
      },
      { highWaterMark: 0 },
    );
    return { stream, length: Math.max(0, end - start), fileSize: size, verified: true, url: this.resolve(file) };
  }

  /** Yields file bytes [s, e) of the DAG under `cid` in order; `size` is what the parent promised. */
  private async *walk(
    ref: { cid: CID } | Node,
    pending: Promise<Node>,
    s: number,
    e: number,
    size: number,
    signal: AbortSignal,
  ): AsyncGenerator<Uint8Array> {
    const node = await pending;
    if (node.raw) {
      if (node.raw.length !== size) throw malformed(ref.cid, `raw leaf has ${node.raw.length} bytes, its parent says ${size}`);
      if (e > s) yield node.raw.subarray(s, e);
      return;
    }
    const fs = node.fs!;
    if (fs.type !== 'file' && fs.type !== 'raw') {
      throw new SourceError(`CID ${ref.cid} is a UnixFS ${fs.type}, not a file`);
    }
    const links = node.pb!.Links;
    if (links.length !== fs.blockSizes.length) throw malformed(ref.cid, `${links.length} links but ${fs.blockSizes.length} block sizes`);
    const own = fileSizeOf(node);
    if (own !== size) throw malformed(ref.cid, `node describes ${own} bytes, its parent says ${size}`);
    const data = fs.data ?? new Uint8Array(0);
    if (s < data.length && e > s) yield data.subarray(s, Math.min(e, data.length));
    let offset = data.length;
    const wanted: { cid: CID; s: number; e: number; size: number }[] = [];
    for (let i = 0; i < links.length; i++) {
      const n = Number(fs.blockSizes[i]);
      const lo = Math.max(s, offset);
      const hi = Math.min(e, offset + n);
      if (hi > lo) wanted.push({ cid: links[i]!.Hash, s: lo - offset, e: hi - offset, size: n });
      offset += n;
    }
    const started: Promise<Node>[] = [];
    const begin = (j: number) => {
      const p = this.load(wanted[j]!.cid, signal);
      // Prefetched blocks may fail after we stopped caring (abort, earlier error); that is not a crash.
      p.catch(() => {});
      started[j] = p;
    };
    for (let j = 0; j < Math.min(PREFETCH, wanted.length); j++) begin(j);
    for (let j = 0; j < wanted.length; j++) {
      if (j + PREFETCH < wanted.length) begin(j + PREFETCH);
      const w = wanted[j]!;
      yield* this.walk(w, started[j]!, w.s, w.e, w.size, signal);
    }
  }
}

function fileSizeOf(node: Node): number {
  if (node.raw) return node.raw.length;
  const fs = node.fs!;
  if (fs.type === 'directory' || fs.type === 'hamt-sharded-directory') {
    throw new SourceError(`CID ${node.cid} is a directory; name a file inside it`);
  }
  const size = unixFsFileSize(fs);
  if (fs.filesize !== undefined && fs.filesize !== size) throw malformed(node.cid, `filesize field says ${fs.filesize}, data and block sizes add up to ${size}`);
  return size;
}

function malformed(cid: CID, detail: string): SourceError {
  return new SourceError(`the UnixFS DAG under CID ${cid} is malformed: ${detail}`);
}

export function splitPath(p: string): string[] {
  return p.split('/').filter((x) => x.length > 0);
}
