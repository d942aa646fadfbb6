import {
  CMD_DETAIL, CTL_CMDS, CTL_COUNT, CTL_DONE, CTL_GEN, CTL_NCMDS, CTL_QUIT, CTL_SEQ, CTL_STATUS, CTL_STATUS_CMD,
  CTL_WORKERS, CMD_BYTES, OP_ARGMAX, OP_ATTENTION, OP_BINARY, OP_EMBEDDING, OP_GELU, OP_KVWRITE, OP_LAYERNORM,
  OP_MATMUL, OP_MATVEC, OP_QEMBEDDING, OP_QMATMUL, OP_RMSNORM, OP_ROPE, OP_SILU, OP_SOFTMAX, OP_TOPK, STATUS_BAD_ID,
  STATUS_BAD_OP, STATUS_OK,
} from '../opcodes';
import { part } from './simd-math';
import { matmulBlock, matmulTransBBlock, matvecRows } from './matmul';
import { qembeddingRows, qprepBytes, qprepRow, qrows } from './quant';
import {
  argmaxRows, attentionRows, binaryRows, embeddingRows, geluRange, kvWriteRows, layerNormRows, rmsNormRows,
  ropeRows, siluRange, softmaxRows, topkRows,
} from './nn';

// Called by the pool's worker 0 after a batch: the host resolves the flush.
@external('env', 'batchDone')
declare function batchDone(seq: i32): void;

let ctl: usize = 0;

/** First free byte after the module's own data: the host heap starts here. */
export function heapBase(): usize {
  return __heap_base;
}

export function qprepSize(K: i32, gs: i32): i32 {
  return qprepBytes(K, gs);
}

@inline function slot(cmd: usize, i: i32): i32 {
  return load<i32>(cmd + (<usize>i << 2));
}
@inline function ptr(cmd: usize, i: i32): usize {
  return <usize>load<u32>(cmd + (<usize>i << 2));
}
@inline function slotf(cmd: usize, i: i32): f32 {
  return load<f32>(cmd + (<usize>i << 2));
}

// Every worker of a pool meets here, sleeping on the generation word (memory.atomic.wait32) until the last one
// bumps it. No spin-then-sleep: under V8's baseline compiler (Liftoff, Node 20 / V8 11.3) a hot spin loop over
// atomic.load left the barrier with the generation unchanged — a worker skipped a round and a batch was
// reported done before its work ran (zeros or stale values downloaded, then a hang). Futex waits only cost no
// measurable time here: 3000 two-op batches took 680 ms vs 866 ms with spinning (TurboFan).
function barrier(workers: i32): void {
  if (workers <= 1) return;
  const gen = atomic.load<i32>(ctl + (<usize>CTL_GEN << 2));
  if (atomic.add<i32>(ctl + (<usize>CTL_COUNT << 2), 1) == workers - 1) {
    atomic.store<i32>(ctl + (<usize>CTL_COUNT << 2), 0);
    atomic.store<i32>(ctl + (<usize>CTL_GEN << 2), gen + 1);
    atomic.notify(ctl + (<usize>CTL_GEN << 2), workers);
  } else {
    while (atomic.load<i32>(ctl + (<usize>CTL_GEN << 2)) == gen) {
      memory.atomic.wait32(ctl + (<usize>CTL_GEN << 2), gen, -1);
    }
  }
}

/** Runs this worker's share of one command record; returns a status code. */
export function exec(cmd: usize, w: i32, n: i32): i32 {
  const op = slot(cmd, 0);
  switch (op) {
    case OP_MATMUL: {
      const a = ptr(cmd, 1), b = ptr(cmd, 2), out = ptr(cmd, 3);
      const batches = slot(cmd, 4), M = slot(cmd, 5), K = slot(cmd, 6), N = slot(cmd, 7), transB = slot(cmd, 8);
      const bStride = <usize>slot(cmd, 9) << 2;
      // rows in blocks of 4 when there are enough of them, else 8-column panels
      const byRows = M >= 8 * n || N < 8 * n;
      let i0 = 0, i1 = M, j0 = 0, j1 = N;
      if (byRows) {
        const blocks = (M + 3) >> 2;
        i0 = min(part(blocks, w, n) << 2, M);
        i1 = min(part(blocks, w + 1, n) << 2, M);
      } else {
        const panels = (N + 7) >> 3;
        j0 = min(part(panels, w, n) << 3, N);
        j1 = min(part(panels, w + 1, n) << 3, N);
      }
      if (i0 >= i1 || j0 >= j1) return STATUS_OK;
      for (let bi = 0; bi < batches; bi++) {
        const A = a + <usize>bi * M * K * 4;
        const B = b + <usize>bi * bStride;
        const C = out + <usize>bi * M * N * 4;
        if (transB != 0) matmulTransBBlock(A, B, C, K, N, i0, i1, j0, j1);
        else matmulBlock(A, B, C, K, N, i0, i1, j0, j1);
      }
      return STATUS_OK;
    }
    case OP_MATVEC: {
      const N = slot(cmd, 4);
      const blocks = (N + 3) >> 2;
      const r0 = min(part(blocks, w, n) << 2, N), r1 = min(part(blocks, w + 1, n) << 2, N);
      matvecRows(ptr(cmd, 1), ptr(cmd, 2), ptr(cmd, 3), slot(cmd, 5), r0, r1);
      return STATUS_OK;
    }
    case OP_QMATMUL: {
      const data = ptr(cmd, 1), scales = ptr(cmd, 2), mins = ptr(cmd, 3), x = ptr(cmd, 4), out = ptr(cmd, 5);
      const M = slot(cmd, 6), N = slot(cmd, 7), K = slot(cmd, 8), bits = slot(cmd, 9), gs = slot(cmd, 10);
      const scratch = ptr(cmd, 11);
      const stride = <usize>qprepBytes(K, gs);
      for (let m = part(M, w, n), m1 = part(M, w + 1, n); m < m1; m++) qprepRow(x + <usize>m * K * 4, scratch + <usize>m * stride, K, gs, bits);
      barrier(n);
      qrows(bits, data, scales, mins, scratch, stride, M, out, N, K, gs, part(N, w, n), part(N, w + 1, n));
      return STATUS_OK;
    }
    case OP_BINARY: {
      const rank = slot(cmd, 5);
      const shape = cmd + 6 * 4;
      const rows = rank == 0 ? 1 : rowsOf(shape, rank);
      binaryRows(slot(cmd, 4), ptr(cmd, 1), ptr(cmd, 2), ptr(cmd, 3), rank, shape, cmd + 14 * 4, cmd + 22 * 4, part(rows, w, n), part(rows, w + 1, n));
      return STATUS_OK;
    }
    case OP_EMBEDDING: {
      const T = slot(cmd, 4);
      const bad = embeddingRows(ptr(cmd, 1), ptr(cmd, 2), ptr(cmd, 3), slot(cmd, 5), slot(cmd, 6), part(T, w, n), part(T, w + 1, n));
      if (bad >= 0) {
        store<i32>(cmd + (<usize>CMD_DETAIL << 2), load<i32>(ptr(cmd, 2) + (<usize>bad << 2)));
        return STATUS_BAD_ID;
      }
      return STATUS_OK;
    }
    case OP_RMSNORM: {
      const R = slot(cmd, 4);
      rmsNormRows(ptr(cmd, 1), ptr(cmd, 2), ptr(cmd, 3), slot(cmd, 5), slotf(cmd, 6), part(R, w, n), part(R, w + 1, n));
      return STATUS_OK;
    }
    case OP_LAYERNORM: {
      const R = slot(cmd, 5);
      layerNormRows(ptr(cmd, 1), ptr(cmd, 2), ptr(cmd, 3), ptr(cmd, 4), slot(cmd, 6), slotf(cmd, 7), part(R, w, n), part(R, w + 1, n));
      return STATUS_OK;
    }
    case OP_SOFTMAX: {
      const R = slot(cmd, 3);
      softmaxRows(ptr(cmd, 1), ptr(cmd, 2), slot(cmd, 4), part(R, w, n), part(R, w + 1, n));
      return STATUS_OK;
    }
    case OP_SILU: {
      const len = slot(cmd, 3);
      // split on multiples of 4 so every worker runs whole vectors
      const q = (len + 3) >> 2;
      siluRange(ptr(cmd, 1), ptr(cmd, 2), min(part(q, w, n) << 2, len), min(part(q, w + 1, n) << 2, len));
      return STATUS_OK;
    }
    case OP_GELU: {
      const len = slot(cmd, 3);
      const q = (len + 3) >> 2;
      geluRange(ptr(cmd, 1), ptr(cmd, 2), min(part(q, w, n) << 2, len), min(part(q, w + 1, n) << 2, len), slot(cmd, 4));
      return STATUS_OK;
    }
    case OP_ROPE: {
      const T = slot(cmd, 4), H = slot(cmd, 5);
      const U = T * H;
      ropeRows(ptr(cmd, 1), ptr(cmd, 2), ptr(cmd, 3), T, H, slot(cmd, 6), slot(cmd, 7), slot(cmd, 8), part(U, w, n), part(U, w + 1, n));
      return STATUS_OK;
    }
    case OP_KVWRITE: {
      const T = slot(cmd, 3), Hkv = slot(cmd, 4);
      const U = T * Hkv;
      kvWriteRows(ptr(cmd, 1), ptr(cmd, 2), Hkv, slot(cmd, 5), slot(cmd, 6), slot(cmd, 7), part(U, w, n), part(U, w + 1, n));
      return STATUS_OK;
    }
    case OP_ATTENTION: {
      const T = slot(cmd, 5), Hq = slot(cmd, 6), S = slot(cmd, 8);
      const U = T * Hq;
      const sc = ptr(cmd, 13) + <usize>w * S * 4;
      attentionRows(ptr(cmd, 1), ptr(cmd, 2), ptr(cmd, 3), ptr(cmd, 4), Hq, slot(cmd, 7), S, slot(cmd, 9), slot(cmd, 10), T,
        slotf(cmd, 11), slot(cmd, 12), sc, part(U, w, n), part(U, w + 1, n));
      return STATUS_OK;
    }
    case OP_ARGMAX: {
      const R = slot(cmd, 3);
      argmaxRows(ptr(cmd, 1), ptr(cmd, 2), slot(cmd, 4), part(R, w, n), part(R, w + 1, n));
      return STATUS_OK;
    }
    case OP_QEMBEDDING: {
      const T = slot(cmd, 6);
      const bad = qembeddingRows(ptr(cmd, 1), ptr(cmd, 2), ptr(cmd, 3), ptr(cmd, 4), ptr(cmd, 5), slot(cmd, 7), slot(cmd, 8), slot(cmd, 9), slot(cmd, 10), part(T, w, n), part(T, w + 1, n));
      if (bad >= 0) {
        store<i32>(cmd + (<usize>CMD_DETAIL << 2), load<i32>(ptr(cmd, 4) + (<usize>bad << 2)));
        return STATUS_BAD_ID;
      }
      return STATUS_OK;
    }
    case OP_TOPK: {
      const R = slot(cmd, 4), k = slot(cmd, 6);
      const heap = ptr(cmd, 7) + <usize>w * k * 8;
      topkRows(ptr(cmd, 1), ptr(cmd, 2), ptr(cmd, 3), slot(cmd, 5), k, heap, part(R, w, n), part(R, w + 1, n));
      return STATUS_OK;
    }
  }
  return STATUS_BAD_OP;
}

function rowsOf(shape: usize, rank: i32): i32 {
  let r = 1;
  for (let d = 0; d < rank - 1; d++) r *= load<i32>(shape + (<usize>d << 2));
  return r;
}

/**
 * A pool worker's life: sleep on the doorbell (CTL_SEQ), run every command of the batch with a barrier
 * after each, worker 0 reports the batch done. Returns when CTL_QUIT is set.
 */
export function workerLoop(control: usize, id: i32): void {
  ctl = control;
  const seqP = ctl + (<usize>CTL_SEQ << 2);
  // the pool starts at sequence 0; reading it here instead could miss a batch rung before this point
  let seen = 0;
  while (true) {
    let cur = atomic.load<i32>(seqP);
    while (cur == seen) {
      memory.atomic.wait32(seqP, seen, -1);
      cur = atomic.load<i32>(seqP);
    }
    seen = cur;
    if (atomic.load<i32>(ctl + (<usize>CTL_QUIT << 2)) != 0) return;
    const cmds = <usize>atomic.load<u32>(ctl + (<usize>CTL_CMDS << 2));
    const count = atomic.load<i32>(ctl + (<usize>CTL_NCMDS << 2));
    const n = atomic.load<i32>(ctl + (<usize>CTL_WORKERS << 2));
    for (let c = 0; c < count; c++) {
      const cmd = cmds + <usize>c * CMD_BYTES;
      const st = exec(cmd, id, n);
      if (st != STATUS_OK) {
        if (atomic.cmpxchg<i32>(ctl + (<usize>CTL_STATUS << 2), 0, st) == 0) atomic.store<i32>(ctl + (<usize>CTL_STATUS_CMD << 2), c);
      }
      barrier(n);
    }
    if (id == 0) {
      atomic.store<i32>(ctl + (<usize>CTL_DONE << 2), seen);
      atomic.notify(ctl + (<usize>CTL_DONE << 2), 1);
      batchDone(seen);
    }
  }
}
