import esbuild from 'rollup-plugin-esbuild';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import terser from '@rollup/plugin-terser';

// One entry per element, one that registers them all, and the framework-free engine.
const entries = {
  index: 'src/index.ts',
  engine: 'engine/index.ts',
  'components/accel-capabilities': 'components/accel-capabilities/index.ts',
};

// The npm build leaves dependencies to the user's bundler; the CDN file carries everything.
const isBare = (id) => !id.startsWith('.') && !id.startsWith('/') && !id.startsWith('\0');

const ts = () => esbuild({ target: 'es2022', tsconfig: 'tsconfig.json', sourceMap: true });

const onwarn = (warning, warn) => {
  // Lit and several deps use `this` at module scope in UMD shims; harmless for ESM output.
  if (warning.code === 'THIS_IS_UNDEFINED') return;
  warn(warning);
};

export default [
  {
    input: entries,
    external: isBare,
    plugins: [ts()],
    onwarn,
    output: {
      dir: 'dist',
      format: 'es',
      sourcemap: true,
      entryFileNames: '[name].js',
      chunkFileNames: 'chunks/[name]-[hash].js',
    },
  },
  {
    input: 'src/index.ts',
    plugins: [nodeResolve({ browser: true, exportConditions: ['browser', 'production'] }), ts(), terser({ format: { comments: false } })],
    onwarn,
    output: {
      file: 'dist/accel.min.js',
      format: 'es',
      sourcemap: true,
      inlineDynamicImports: true,
    },
  },
];
