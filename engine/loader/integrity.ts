import type { CID } from 'multiformats/cid';
import { IntegrityError, SourceError } from '../errors.js';

const SHA2_256 = 0x12;
const SHA2_512 = 0x13;
const IDENTITY = 0x00;

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += bytes[i]!.toString(16).padStart(2, '0');
  return s;
}

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new SourceError('hash verification needs crypto.subtle (a secure context: https or localhost)');
  return s;
}

/** crypto.subtle copies views it is given, but typing wants an ArrayBuffer-backed view. */
function asBufferSource(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await subtle().digest('SHA-256', asBufferSource(bytes))));
}

export async function checkSha256(what: string, bytes: Uint8Array, expectedHex: string): Promise<string> {
  const actual = await sha256Hex(bytes);
  if (actual !== expectedHex.toLowerCase()) throw new IntegrityError(what, 'sha256', expectedHex.toLowerCase(), actual);
  return actual;
}

/** Throws unless `bytes` hash to the multihash inside `cid`. */
export async function verifyBlock(cid: CID, bytes: Uint8Array): Promise<void> {
  const mh = cid.multihash;
  let digest: Uint8Array;
  let algo: string;
  switch (mh.code) {
    case SHA2_256:
      algo = 'sha2-256';
      digest = new Uint8Array(await subtle().digest('SHA-256', asBufferSource(bytes)));
      break;
    case SHA2_512:
      algo = 'sha2-512';
      digest = new Uint8Array(await subtle().digest('SHA-512', asBufferSource(bytes)));
      break;
    case IDENTITY:
      algo = 'identity';
      digest = bytes;
      break;
    default:
      throw new SourceError(`CID ${cid} uses multihash 0x${mh.code.toString(16)}, which cannot be verified here (sha2-256, sha2-512 and identity can)`);
  }
  const expected = mh.digest;
  let same = digest.length === expected.length;
  for (let i = 0; same && i < digest.length; i++) same = digest[i] === expected[i];
  if (!same) throw new IntegrityError('IPFS block', algo, toHex(expected), toHex(digest), cid.toString());
}
