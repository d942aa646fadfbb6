/**
 * The slice of the W3C Web Neural Network API (navigator.ml) the WebNN backend uses, typed here because
 * TypeScript's DOM library does not declare it yet. Names and dictionary members follow the spec's IDL.
 */

export type MLOperandDataType = 'float32' | 'float16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'int8' | 'uint8';
export type MLDeviceType = 'cpu' | 'gpu' | 'npu';

export interface MLOperandDescriptor {
  dataType: MLOperandDataType;
  shape: readonly number[];
}

export interface MLTensorDescriptor extends MLOperandDescriptor {
  readable?: boolean;
  writable?: boolean;
}

export interface MLContextOptions {
  /** Dropped from the newest drafts (powerPreference / accelerated replace it) but still read by shipping builds. */
  deviceType?: MLDeviceType;
  powerPreference?: 'default' | 'high-performance' | 'low-power';
}

export interface ML {
  createContext(options?: MLContextOptions): Promise<MLContext>;
}

export interface MLRankRange {
  min: number;
  max: number;
}

export interface MLTensorLimits {
  dataTypes: MLOperandDataType[];
  rankRange?: MLRankRange;
}

/** Per operator: one MLTensorLimits per operand name (input, a, b, indices, scale, …, output). */
export type MLOperatorLimits = Record<string, MLTensorLimits | undefined>;

export interface MLOpSupportLimits {
  preferredInputLayout?: string;
  maxTensorByteLength?: number;
  input: MLTensorLimits;
  constant: MLTensorLimits;
  output: MLTensorLimits;
  [op: string]: MLOperatorLimits | MLTensorLimits | string | number | undefined;
}

export interface MLTensor {
  readonly dataType: MLOperandDataType;
  readonly shape: readonly number[];
  readonly readable: boolean;
  readonly writable: boolean;
  destroy(): void;
}

export interface MLGraph {
  destroy(): void;
}

export type MLNamedTensors = Record<string, MLTensor>;

export interface MLContext {
  createTensor(descriptor: MLTensorDescriptor): Promise<MLTensor>;
  writeTensor(tensor: MLTensor, data: ArrayBufferView | ArrayBuffer): void;
  readTensor(tensor: MLTensor): Promise<ArrayBuffer>;
  dispatch(graph: MLGraph, inputs: MLNamedTensors, outputs: MLNamedTensors): void;
  opSupportLimits(): MLOpSupportLimits;
  destroy(): void;
  readonly lost: Promise<{ message: string }>;
}

export interface MLOperand {
  readonly dataType: MLOperandDataType;
  readonly shape: readonly number[];
}

export interface MLGraphBuilderCtor {
  new (context: MLContext): MLGraphBuilder;
}

/** The builder methods the backend composes its graphs from (spec names and options). */
export interface MLGraphBuilder {
  input(name: string, descriptor: MLOperandDescriptor): MLOperand;
  constant(descriptor: MLOperandDescriptor, buffer: ArrayBufferView): MLOperand;
  build(outputs: Record<string, MLOperand>): Promise<MLGraph>;

  add(a: MLOperand, b: MLOperand): MLOperand;
  sub(a: MLOperand, b: MLOperand): MLOperand;
  mul(a: MLOperand, b: MLOperand): MLOperand;
  div(a: MLOperand, b: MLOperand): MLOperand;
  equal(a: MLOperand, b: MLOperand): MLOperand;
  where(condition: MLOperand, trueValue: MLOperand, falseValue: MLOperand): MLOperand;
  matmul(a: MLOperand, b: MLOperand): MLOperand;

  sqrt(x: MLOperand): MLOperand;
  tanh(x: MLOperand): MLOperand;
  erf(x: MLOperand): MLOperand;
  sigmoid(x: MLOperand): MLOperand;
  gelu(x: MLOperand): MLOperand;
  softmax(x: MLOperand, axis: number): MLOperand;

  reduceMean(x: MLOperand, options?: { axes?: number[]; keepDimensions?: boolean }): MLOperand;
  layerNormalization(x: MLOperand, options?: { scale?: MLOperand; bias?: MLOperand; axes?: number[]; epsilon?: number }): MLOperand;
  argMax(x: MLOperand, axis: number, options?: { keepDimensions?: boolean; outputDataType?: MLOperandDataType }): MLOperand;

  reshape(x: MLOperand, newShape: readonly number[]): MLOperand;
  transpose(x: MLOperand, options?: { permutation?: number[] }): MLOperand;
  slice(x: MLOperand, starts: readonly number[], sizes: readonly number[]): MLOperand;
  concat(inputs: MLOperand[], axis: number): MLOperand;
  gather(input: MLOperand, indices: MLOperand, options?: { axis?: number }): MLOperand;
  scatterND(input: MLOperand, indices: MLOperand, updates: MLOperand): MLOperand;
  dequantizeLinear(input: MLOperand, scale: MLOperand, zeroPoint: MLOperand): MLOperand;
}
