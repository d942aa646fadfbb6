import { esbuildPlugin } from '@web/dev-server-esbuild';
import { chromeLauncher } from '@web/test-runner-chrome';
import { testServerMiddleware } from './test/server/middleware.mjs';
import { wsStreamServer } from './test/server/ws-stream.mjs';
import { openAIFaultServer } from './test/server/openai-fault.mjs';

// Headless Debian Chromium with WebGPU (SwiftShader where no GPU exists: correct, slow, no shader-f16).
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const chromiumArgs = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

// The real-browser WebNN path needs its own Chromium (the WebNN feature flag changes what every page sees), so
// it is a group: plain `npm run test:browser` runs it after the default group; `--group webnn-flag` runs it
// alone. A run naming test files on the command line leaves it out.
const WEBNN_FLAG_TEST = 'test/browser/webnn-flag.test.ts';
const namedFiles = process.argv.slice(2).some((a) => /\.test\.[mc]?[jt]s$/.test(a));

/** @type {import('@web/test-runner').TestRunnerConfig} */
export default {
  files: ['test/browser/**/*.test.ts', 'components/**/*.test.ts', `!${WEBNN_FLAG_TEST}`],
  nodeResolve: { exportConditions: ['browser', 'production'], browser: true },
  middleware: testServerMiddleware,
  plugins: [esbuildPlugin({ ts: true, target: 'es2022', tsconfig: 'tsconfig.json' }), wsStreamServer(), openAIFaultServer()],
  concurrency: 1,
  concurrentBrowsers: 1,
  browserStartTimeout: 120_000,
  testsStartTimeout: 120_000,
  testsFinishTimeout: 600_000,
  testFramework: { config: { timeout: 120_000 } },
  browsers: [
    chromeLauncher({
      launchOptions: {
        executablePath: chromium,
        headless: true,
        args: chromiumArgs,
      },
    }),
  ],
  groups: namedFiles
    ? []
    : [
        {
          name: 'webnn-flag',
          files: [WEBNN_FLAG_TEST],
          browsers: [
            chromeLauncher({
              launchOptions: {
                executablePath: chromium,
                headless: true,
                args: chromiumArgs.map((a) => (a === '--enable-features=Vulkan' ? '--enable-features=Vulkan,WebMachineLearningNeuralNetwork' : a)),
              },
            }),
          ],
        },
      ],
};
