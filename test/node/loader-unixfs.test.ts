import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UnixFS } from 'ipfs-unixfs';
import { UnixFsDecodeError, decodeUnixFs, unixFsFileSize } from '../../engine/loader/unixfs.js';

const TYPES = ['raw', 'directory', 'file', 'metadata', 'symlink', 'hamt-sharded-directory'] as const;

test('decodeUnixFs agrees with ipfs-unixfs on 5,000 random nodes', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...TYPES),
      fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
      // ipfs-unixfs 13 (protons-runtime) miscodes some uint64s ≥ 2^31 (2^31 itself becomes 0), so the
      // reference stays below; large values are checked against hand-made varints in the next test.
      fc.array(fc.bigInt({ min: 0n, max: 100_000_000n }), { maxLength: 20 }),
      fc.option(fc.integer({ min: 0, max: 0o7777 }), { nil: undefined }),
      fc.option(fc.bigInt({ min: 0n, max: 2n ** 31n - 1n }), { nil: undefined }),
      (type, data, blockSizes, mode, secs) => {
        const isDir = type === 'directory' || type === 'hamt-sharded-directory';
        const node = new UnixFS({ type, data, blockSizes: isDir ? [] : blockSizes, mode, mtime: secs === undefined ? undefined : { secs } });
        if (type === 'hamt-sharded-directory') node.fanout = 256n;
        const d = decodeUnixFs(node.marshal());
        const ref = UnixFS.unmarshal(node.marshal());
        assert.equal(d.type, ref.type);
        assert.deepEqual(d.blockSizes, ref.blockSizes.map(Number));
        assert.deepEqual(d.data ?? new Uint8Array(0), ref.data ?? new Uint8Array(0));
        if (!isDir) assert.equal(unixFsFileSize(d), Number(ref.fileSize()));
      },
    ),
    { numRuns: 5000 },
  );
});

test('large sizes decode exactly up to 2^53 - 1 and are refused beyond', () => {
  const varint = (v: bigint) => {
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    return out;
  };
  for (const v of [2n ** 31n, 2n ** 32n - 1n, 2n ** 40n + 7n, 2n ** 53n - 1n]) {
    // Type=file, filesize=v, blocksizes=[v] unpacked, then blocksizes=[1, v] packed.
    const packed = [...varint(1n), ...varint(v)];
    const d = decodeUnixFs(Uint8Array.from([0x08, 2, 0x18, ...varint(v), 0x20, ...varint(v), 0x22, packed.length, ...packed]));
    assert.deepEqual(d, { type: 'file', data: undefined, filesize: Number(v), blockSizes: [Number(v), 1, Number(v)] });
  }
  assert.throws(() => decodeUnixFs(Uint8Array.from([0x08, 2, 0x20, ...varint(2n ** 53n)])), UnixFsDecodeError);
  assert.throws(() => decodeUnixFs(Uint8Array.from([0x08, 9])), UnixFsDecodeError);
  assert.throws(() => decodeUnixFs(Uint8Array.from([0x12, 5, 1])), UnixFsDecodeError);
});

test('arbitrary bytes decode or throw UnixFsDecodeError, never anything else (10,000 cases)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => {
      try {
        const d = decodeUnixFs(bytes);
        assert.ok(d.blockSizes.every((n) => Number.isSafeInteger(n) && n >= 0));
      } catch (err) {
        assert.ok(err instanceof UnixFsDecodeError, String(err));
      }
    }),
    { numRuns: 10_000 },
  );
});
