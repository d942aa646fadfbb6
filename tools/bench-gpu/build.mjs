// Bundles the GPU benchmarks (engine included) into single Node ESM files; `webgpu` (Dawn) stays external
// because it is a native addon that the GPU machine installs itself (.gpu/device.sh).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
await build({
  entryPoints: {
    'bench-kernels': `${here}bench-kernels.ts`,
    'gemv-lab': `${here}gemv-lab.ts`,
    'bench-decode': `${here}bench-decode.ts`,
    'bench-dispatch': `${here}bench-dispatch.ts`,
    'bench-quant': `${here}../bench-quant.ts`,
  },
  outdir: `${here}dist`,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['webgpu'],
  sourcemap: false,
  logLevel: 'info',
});
