/** How a kernel binds its storage buffers: binding 0 is always the op's uniform slot, then these in order. */
export type BindingKind = 'read' | 'rw';

export interface KernelDef {
  /** Unique per distinct WGSL source: the pipeline cache key. */
  readonly key: string;
  readonly bindings: readonly BindingKind[];
  readonly code: string;
}

/** Workgroup size used by every 1-d kernel unless it says otherwise. */
export const WG = 256;

/** A dispatch of `count` workgroups as a 2-d grid, since one dimension stops at 65535. */
export function grid(count: number, maxDim = 65535): [number, number] {
  if (count <= maxDim) return [count, 1];
  const y = Math.ceil(count / maxDim);
  return [Math.ceil(count / y), y];
}
