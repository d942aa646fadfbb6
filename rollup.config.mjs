import esbuild from 'rollup-plugin-esbuild';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import terser from '@rollup/plugin-terser';
import { buildSync } from 'esbuild';

// One entry per element, one that registers them all, and the framework-free engine.
const entries = {
  index: 'src/index.ts',
  engine: 'engine/index.ts',
  'components/accel-benchmark': 'components/accel-benchmark/index.ts',
  'components/accel-cache': 'components/accel-cache/index.ts',
  'components/accel-capabilities': 'components/accel-capabilities/index.ts',
  'components/accel-image-classifier': 'components/accel-image-classifier/index.ts',
  'components/accel-model': 'components/accel-model/index.ts',
  'components/accel-stream': 'components/accel-stream/index.ts',
  react: 'src/react.ts',
};

// The engine Worker must be one self-contained module (workers see no import map and no bundler), so it
// is bundled with esbuild, emitted as dist/accel-worker.js, and worker-url.ts points at it.
function engineWorker() {
  let ref;
  return {
    name: 'accel-engine-worker',
    buildStart() {
      const out = buildSync({
        entryPoints: ['engine/worker/worker-entry.ts'],
        bundle: true,
        format: 'esm',
        platform: 'browser',
        target: 'es2022',
        minify: true,
        write: false,
        conditions: ['browser', 'production'],
        mainFields: ['browser', 'module', 'main'],
        legalComments: 'none',
      });
      ref = this.emitFile({ type: 'asset', fileName: 'accel-worker.js', source: out.outputFiles[0].text });
    },
    transform(code, id) {
      if (!id.endsWith('engine/worker/worker-url.ts')) return null;
      const from = "new URL('./worker-entry.ts', import.meta.url)";
      if (!code.includes(from)) this.error('worker-url.ts no longer has the expression the build replaces');
      return { code: code.replace(from, `new URL(import.meta.ROLLUP_FILE_URL_${ref})`), map: null };
    },
  };
}

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
    plugins: [engineWorker(), ts()],
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
    input: 'src/cdn.ts',
    plugins: [engineWorker(), nodeResolve({ browser: true, exportConditions: ['browser', 'production'] }), ts(), terser({ format: { comments: false } })],
    onwarn,
    // One file holds everything but chart.js, which <accel-benchmark> imports on its first chart: pages
    // without that element never download it. The backends (dynamic imports too) stay in the main file.
    output: {
      dir: 'dist',
      format: 'es',
      sourcemap: true,
      entryFileNames: 'accel.min.js',
      chunkFileNames: 'cdn/[name]-[hash].min.js',
      manualChunks: (id) => (/[\\/]node_modules[\\/](chart\.js|@kurkle[\\/]color)[\\/]/.test(id) ? 'chart' : 'accel'),
    },
  },
];
