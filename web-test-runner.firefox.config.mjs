// The browser suite's fallback lane: Debian's Firefox ESR driven over WebDriver BiDi (puppeteer-core, no
// browser download). Firefox exposes navigator.gpu but gives no adapter here, so these runs prove the path
// without WebGPU: the capability report says so, models run on wasm, the elements work. Tests that need
// WebGPU skip themselves with the reason printed (test/helpers/requires.ts).
import { puppeteerLauncher } from '@web/test-runner-puppeteer';
import base from './web-test-runner.config.mjs';

const firefox = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

/** @type {import('@web/test-runner').TestRunnerConfig} */
export default {
  ...base,
  files: [
    'test/firefox/**/*.test.ts',
    'test/browser/backend-wasm.test.ts',
    'test/browser/backend-cpu.test.ts',
    'test/browser/formats-browser.test.ts',
    'test/browser/loader-cache.test.ts',
    'test/browser/loader-sources.test.ts',
    'test/browser/reliability-*.test.ts',
    'components/accel-stream/accel-stream.test.ts',
    'components/accel-cache/accel-cache.test.ts',
  ],
  browsers: [
    puppeteerLauncher({
      launchOptions: {
        browser: 'firefox',
        executablePath: firefox,
        headless: true,
        protocol: 'webDriverBiDi',
      },
    }),
  ],
};
