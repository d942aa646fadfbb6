import { esbuildPlugin } from '@web/dev-server-esbuild';
import { chromeLauncher } from '@web/test-runner-chrome';
import { testServerMiddleware } from './test/server/middleware.mjs';
import { wsStreamServer } from './test/server/ws-stream.mjs';
import { openAIFaultServer } from './test/server/openai-fault.mjs';

// Headless Debian Chromium with WebGPU (SwiftShader where no GPU exists: correct, slow, no shader-f16).
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** @type {import('@web/test-runner').TestRunnerConfig} */
export default {
  files: ['test/browser/**/*.test.ts', 'components/**/*.test.ts'],
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
        args: [
          '--no-sandbox',
          '--enable-unsafe-webgpu',
          '--enable-features=Vulkan',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      },
    }),
  ],
};
