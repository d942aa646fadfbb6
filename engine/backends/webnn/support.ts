import type { MLOpSupportLimits, MLOperandDataType, MLTensorLimits } from './webnn-types.js';

/**
 * Which Backend ops a WebNN context can run as graphs, decided from `context.opSupportLimits()` alone (no
 * context needed, so the capability probe uses it too). Each Backend op is composed from a fixed list of
 * WebNN operators; it runs natively when every operand of every one of them accepts the data type the
 * composition feeds it, else it falls back to the cpu backend with the first missing piece as the reason.
 */

/** One operand of one WebNN operator, with the data type and rank the backend's graphs give it. */
interface Need {
  op: string;
  operand: string;
  dataType: MLOperandDataType;
  rank: number;
}

const f32 = 'float32';
const need = (op: string, operand: string, dataType: MLOperandDataType, rank: number): Need => ({ op, operand, dataType, rank });
const binary = (op: string, rank: number, dataType: MLOperandDataType = f32): Need[] => [need(op, 'a', dataType, rank), need(op, 'b', dataType, rank)];
const unary = (op: string, rank: number): Need[] => [need(op, 'input', f32, rank)];
// Every graph takes flat (rank-1) tensors and reshapes them to the op's shape.
const reshape = (dataType: MLOperandDataType, rank: number): Need[] => [need('reshape', 'input', dataType, rank)];
const io = (dataType: MLOperandDataType): Need[] => [need('input', '', dataType, 1), need('output', '', dataType, 1)];

/** Backend op (or variant) → what its graph needs. */
export const WEBNN_RECIPES = {
  matmul: [...io(f32), ...reshape(f32, 3), ...binary('matmul', 3), need('transpose', 'input', f32, 3)],
  matvec: [...io(f32), ...reshape(f32, 2), ...binary('matmul', 2)],
  'qmatvec int8': [...io(f32), ...io('uint8'), ...reshape('uint8', 2), need('dequantizeLinear', 'input', 'uint8', 2), need('dequantizeLinear', 'scale', f32, 2), need('dequantizeLinear', 'zeroPoint', 'uint8', 2), ...binary('add', 3), ...binary('matmul', 2), need('transpose', 'input', f32, 2)],
  add: [...io(f32), ...reshape(f32, 4), ...binary('add', 4)],
  mul: [...io(f32), ...reshape(f32, 4), ...binary('mul', 4)],
  embedding: [...io(f32), ...io('int32'), ...reshape(f32, 2), need('gather', 'input', f32, 2), need('gather', 'indices', 'int32', 1)],
  rmsNorm: [...io(f32), ...reshape(f32, 2), ...binary('mul', 2), ...unary('reduceMean', 2), ...binary('add', 2), ...unary('sqrt', 2), ...binary('div', 2)],
  'layerNorm native': [...io(f32), ...reshape(f32, 2), need('layerNormalization', 'input', f32, 2), need('layerNormalization', 'scale', f32, 1), need('layerNormalization', 'bias', f32, 1)],
  layerNorm: [...io(f32), ...reshape(f32, 2), ...unary('reduceMean', 2), ...binary('sub', 2), ...binary('mul', 2), ...binary('add', 2), ...unary('sqrt', 2), ...binary('div', 2)],
  softmax: [...io(f32), ...reshape(f32, 2), ...unary('softmax', 2)],
  silu: [...io(f32), ...reshape(f32, 1), ...unary('sigmoid', 1), ...binary('mul', 1)],
  'gelu tanh': [...io(f32), ...reshape(f32, 1), ...binary('mul', 1), ...binary('add', 1), ...unary('tanh', 1)],
  'gelu erf native': [...io(f32), ...reshape(f32, 1), ...unary('gelu', 1)],
  'gelu erf': [...io(f32), ...reshape(f32, 1), ...binary('mul', 1), ...binary('add', 1), ...unary('erf', 1)],
  rope: [...io(f32), ...reshape(f32, 4), need('slice', 'input', f32, 4), ...binary('mul', 4), ...binary('sub', 4), ...binary('add', 4), need('concat', 'inputs', f32, 4)],
  kvWrite: [...io(f32), ...io('int32'), ...reshape(f32, 3), need('transpose', 'input', f32, 3), need('scatterND', 'input', f32, 3), need('scatterND', 'indices', 'int32', 3), need('scatterND', 'updates', f32, 3)],
  attention: [...io(f32), ...io('uint8'), ...reshape(f32, 4), need('transpose', 'input', f32, 3), ...binary('matmul', 3), ...binary('mul', 3), need('where', 'condition', 'uint8', 4), need('where', 'trueValue', f32, 4), need('where', 'falseValue', f32, 4), need('softmax', 'input', f32, 4)],
  argmax: [...io(f32), ...io('int32'), ...reshape(f32, 2), ...binary('equal', 2), need('where', 'condition', 'uint8', 2), need('where', 'trueValue', f32, 2), need('where', 'falseValue', f32, 2), need('argMax', 'input', f32, 2), need('argMax', 'output', 'int32', 1)],
  topk: null,
} satisfies Record<string, Need[] | null>;

export type WebNNRecipe = keyof typeof WEBNN_RECIPES;

export interface WebNNFallback {
  /** The Backend op (with its variant, e.g. 'qmatvec int4 g32 sym') that runs on the cpu backend. */
  op: string;
  /** Why: the operator, operand and data type the context lacks, or the format WebNN cannot express. */
  reason: string;
}

function allows(limit: MLTensorLimits | undefined, dataType: MLOperandDataType, rank: number): string | null {
  if (!limit || !Array.isArray(limit.dataTypes)) return 'no support limits';
  if (!limit.dataTypes.includes(dataType)) return `no ${dataType} (supports ${limit.dataTypes.join(', ') || 'nothing'})`;
  if (limit.rankRange && (rank < limit.rankRange.min || rank > limit.rankRange.max)) return `rank ${rank} outside ${limit.rankRange.min}…${limit.rankRange.max}`;
  return null;
}

/** null when the recipe's every operand is supported, else the first reason it is not. */
export function recipeProblem(limits: MLOpSupportLimits, recipe: WebNNRecipe): string | null {
  const needs = WEBNN_RECIPES[recipe];
  if (needs === null) return 'WebNN has no top-k operator';
  for (const n of needs) {
    if (n.op === 'input' || n.op === 'output') {
      const why = allows(limits[n.op], n.dataType, n.rank);
      if (why) return `graph ${n.op}s: ${why}`;
      continue;
    }
    const opLimits = limits[n.op];
    if (!opLimits || typeof opLimits !== 'object') return `operator ${n.op} is not supported by this context`;
    const why = allows((opLimits as Record<string, MLTensorLimits | undefined>)[n.operand], n.dataType, n.rank);
    if (why) return `${n.op}.${n.operand}: ${why}`;
  }
  return null;
}

/** How each Backend op runs on a context with these limits. */
export interface WebNNPlan {
  /** Backend op → null (graph) or the reason it falls back. */
  readonly ops: ReadonlyMap<string, string | null>;
  readonly layerNormNative: boolean;
  readonly geluErfNative: boolean;
  readonly fallbacks: WebNNFallback[];
}

const PLAIN: WebNNRecipe[] = ['matmul', 'matvec', 'qmatvec int8', 'add', 'mul', 'embedding', 'rmsNorm', 'softmax', 'silu', 'gelu tanh', 'rope', 'kvWrite', 'attention', 'argmax', 'topk'];

export function planWebNN(limits: MLOpSupportLimits): WebNNPlan {
  const ops = new Map<string, string | null>();
  for (const r of PLAIN) ops.set(r, recipeProblem(limits, r));
  // Norms and erf-GELU use the native operator where there is one and compose it from primitives otherwise.
  const layerNormNative = recipeProblem(limits, 'layerNorm native') === null;
  ops.set('layerNorm', layerNormNative ? null : recipeProblem(limits, 'layerNorm'));
  const geluErfNative = recipeProblem(limits, 'gelu erf native') === null;
  ops.set('gelu erf', geluErfNative ? null : recipeProblem(limits, 'gelu erf'));
  const fallbacks = [...ops].flatMap(([op, reason]) => (reason === null ? [] : [{ op, reason }]));
  return { ops, layerNormNative, geluErfNative, fallbacks };
}
