// Bundles the GPU kernel benchmark (engine included) into one Node ESM file; `webgpu` (Dawn) stays external
// because it is a native addon that the GPU machine installs itself (.gpu/device.sh).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
await build({
  entryPoints: [`${here}bench-kernels.ts`],
  outfile: `${here}dist/bench-kernels.mjs`,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['webgpu'],
  sourcemap: false,
  logLevel: 'info',
});
