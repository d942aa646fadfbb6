/**
 * Decoder for the UnixFS `Data` protobuf carried in dag-pb nodes (unixfs.proto):
 *   1 Type (varint enum) · 2 Data (bytes) · 3 filesize (uint64) · 4 blocksizes (repeated uint64, packed or not)
 *   5 hashType · 6 fanout · 7 mode · 8 mtime (skipped here).
 * Our own because ipfs-unixfs pulls protons-runtime → uint8arrays → every multibase and a node:crypto
 * import that the browser dev server cannot map; the test suite checks this decoder against ipfs-unixfs.
 */

export type UnixFsType = 'raw' | 'directory' | 'file' | 'metadata' | 'symlink' | 'hamt-sharded-directory';

const TYPES: UnixFsType[] = ['raw', 'directory', 'file', 'metadata', 'symlink', 'hamt-sharded-directory'];

export interface UnixFsData {
  type: UnixFsType;
  data: Uint8Array | undefined;
  /** The `filesize` field when present. */
  filesize: number | undefined;
  blockSizes: number[];
}

export class UnixFsDecodeError extends Error {}

class Reader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** Varints beyond 2^53 cannot be a byte count in this process; they are rejected, not rounded. */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new UnixFsDecodeError('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(result)) throw new UnixFsDecodeError('varint exceeds 2^53');
        return result;
      }
      scale *= 128;
    }
    throw new UnixFsDecodeError('varint longer than 10 bytes');
  }

  bytes(): Uint8Array {
    const n = this.varint();
    if (n > this.buf.length - this.pos) throw new UnixFsDecodeError('length-delimited field runs past the end');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.advance(8);
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.advance(4);
    else throw new UnixFsDecodeError(`unsupported wire type ${wire}`);
  }

  private advance(n: number): void {
    if (n > this.buf.length - this.pos) throw new UnixFsDecodeError('field runs past the end');
    this.pos += n;
  }
}

export function decodeUnixFs(buf: Uint8Array): UnixFsData {
  const r = new Reader(buf);
  let type: UnixFsType | undefined;
  let data: Uint8Array | undefined;
  let filesize: number | undefined;
  const blockSizes: number[] = [];
  while (!r.done) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field === 1 && wire === 0) {
      const t = TYPES[r.varint()];
      if (!t) throw new UnixFsDecodeError('unknown UnixFS type');
      type = t;
    } else if (field === 2 && wire === 2) {
      data = r.bytes();
    } else if (field === 3 && wire === 0) {
      filesize = r.varint();
    } else if (field === 4 && wire === 0) {
      blockSizes.push(r.varint());
    } else if (field === 4 && wire === 2) {
      const packed = new Reader(r.bytes());
      while (!packed.done) blockSizes.push(packed.varint());
    } else {
      r.skip(wire);
    }
  }
  if (type === undefined) throw new UnixFsDecodeError('missing Type');
  return { type, data, filesize, blockSizes };
}

/** Bytes of file content the node describes: its own data plus every child's. */
export function unixFsFileSize(d: UnixFsData): number {
  return (d.data?.length ?? 0) + d.blockSizes.reduce((a, b) => a + b, 0);
}
