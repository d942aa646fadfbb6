/**
 * What recording a decode step costs the host in the engine's own code: the WebGPU backend on a device whose
 * every call does nothing, so the time left is JavaScript (ops, tensors, pools, caches, uniform ring) without
 * Dawn's native encoding (bench-dispatch measures that part on the GPU machine). Runs anywhere, no GPU needed.
 *
 *   npx tsx tools/bench-gpu/record-cost.ts --models smollm2-135m,llama-3.2-1b --steps 300
 */
import { WebGPUBackend } from '../../engine/backends/webgpu/webgpu-backend.js';
import { parseModelConfig, type LlamaConfig } from '../../engine/formats/config.js';
import { LlamaModel } from '../../engine/models/llama/llama.js';
import { RandomStore, SHAPES } from './random-model.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);

/** A GPUDevice stand-in: objects whose methods do nothing (mapped ranges are zeros of the right size). */
function nullDevice(): GPUDevice {
  const nop = (): void => {};
  const pass = { setPipeline: nop, setBindGroup: nop, dispatchWorkgroups: nop, end: nop };
  const encoder = { beginComputePass: () => pass, copyBufferToBuffer: nop, clearBuffer: nop, resolveQuerySet: nop, finish: () => ({}) };
  const buffer = (d: GPUBufferDescriptor): unknown => ({ size: d.size, usage: d.usage, mapAsync: async () => {}, getMappedRange: () => new ArrayBuffer(d.size), unmap: nop, destroy: nop });
  const layout = { getBindGroupLayout: () => ({}) };
  return {
    limits: { maxBufferSize: 2 ** 31, maxStorageBufferBindingSize: 2 ** 31, maxComputeWorkgroupsPerDimension: 65535, minUniformBufferOffsetAlignment: 256, maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024 },
    features: new Set(['subgroups']), lost: new Promise(() => {}),
    queue: { onSubmittedWorkDone: async () => {}, submit: nop, writeBuffer: nop },
    createBuffer: buffer, createShaderModule: () => ({}), createComputePipeline: () => layout, createBindGroupLayout: () => ({}),
    createPipelineLayout: () => ({}), createBindGroup: () => ({}), createCommandEncoder: () => encoder, createQuerySet: () => ({ destroy: nop }),
    pushErrorScope: nop, popErrorScope: async () => null, addEventListener: nop, destroy: nop,
  } as unknown as GPUDevice;
}

for (const name of arg('--models', 'smollm2-135m,llama-3.2-1b').split(',')) {
  const config = parseModelConfig({ architectures: ['LlamaForCausalLM'], ...SHAPES[name] }) as LlamaConfig;
  const b = new WebGPUBackend({ device: nullDevice(), ownsDevice: false });
  const steps = Number(arg('--steps', '300'));
  const model = new LlamaModel(b, config, new RandomStore(config, 4, { fill: false }), { maxSequence: steps + 64, fuse: true });
  const step = async (tok: number): Promise<void> => {
    const logits = model.forward(Int32Array.of(tok));
    const id = b.argmax(logits);
    logits.dispose();
    await b.download(id);
    id.dispose();
  };
  for (let i = 0; i < 20; i++) await step(i);
  model.resetCache();
  const s0 = b.stats();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await step(i);
  const ms = (performance.now() - t0) / steps;
  const dispatches = (b.stats().dispatches - s0.dispatches) / steps;
  console.log(`${name}: ${ms.toFixed(3)} ms of JavaScript per decode step, ${dispatches} dispatches (${((1000 * ms) / dispatches).toFixed(2)} µs each)`);
  model.dispose();
}
