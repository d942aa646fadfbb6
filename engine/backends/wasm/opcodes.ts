/**
 * The command records shared by the TypeScript side and the AssemblyScript kernels (this file compiles
 * under both: plain integer constants only). A command is CMD_WORDS little-endian 32-bit slots in wasm
 * memory: slot 0 the opcode, then the arguments listed beside each opcode (pointers are byte offsets,
 * `f` marks an f32 slot). Every kernel splits its work by `worker` of `workers`, so one record runs
 * eagerly on one thread or on every thread of the pool.
 */
export const CMD_WORDS = 32;
export const CMD_BYTES = 128;
/** Slot a failing kernel writes the offending value to (e.g. the out-of-range token id). */
export const CMD_DETAIL = 31;

/** a, b, out, batches, M, K, N, transB, bBatchStride (elements, 0 = shared b) */
export const OP_MATMUL = 1;
/** w, x, out, N, K */
export const OP_MATVEC = 2;
/** data, scales, mins (0 = symmetric), x, out, M, N, K, bits, groupSize, scratch */
export const OP_QMATMUL = 3;
/** a, b, out, kind (0 add, 1 mul), rank, shape[rank] @6, strideA[rank] @14, strideB[rank] @22 */
export const OP_BINARY = 4;
/** table, ids, out, T, D, V */
export const OP_EMBEDDING = 5;
/** x, weight, out, rows, D, eps f */
export const OP_RMSNORM = 6;
/** x, weight, bias, out, rows, D, eps f */
export const OP_LAYERNORM = 7;
/** x, out, rows, D */
export const OP_SOFTMAX = 8;
/** x, out, n */
export const OP_SILU = 9;
/** x, out, n, mode (0 tanh, 1 erf) */
export const OP_GELU = 10;
/** x, out, table (cos [T, rd/2] then sin [T, rd/2]), T, H, Dh, rotaryDim, interleaved */
export const OP_ROPE = 11;
/** cache, x, T, Hkv, S, Dh, offset */
export const OP_KVWRITE = 12;
/** q, k, v, out, T, Hq, Hkv, S, Dh, past, scale f, causal, scratch (workers × S f32) */
export const OP_ATTENTION = 13;
/** x, out, rows, V */
export const OP_ARGMAX = 14;
/** x, values, indices, rows, V, k, scratch (workers × k × 8 bytes) */
export const OP_TOPK = 15;
/** data, scales, mins (0 = symmetric), ids, out, T, D, V, bits, groupSize */
export const OP_QEMBEDDING = 16;

/** Status codes returned by a kernel. */
export const STATUS_OK = 0;
export const STATUS_BAD_ID = 1;
export const STATUS_BAD_OP = 2;

/** i32 slots of the pool's control block (each on its own 64-byte line: workers spin on some of them). */
export const CTL_SEQ = 0;
export const CTL_DONE = 16;
export const CTL_COUNT = 32;
export const CTL_GEN = 48;
export const CTL_CMDS = 64;
export const CTL_NCMDS = 65;
export const CTL_WORKERS = 66;
export const CTL_QUIT = 67;
export const CTL_STATUS = 80;
export const CTL_STATUS_CMD = 81;
export const CTL_WORDS = 96;
