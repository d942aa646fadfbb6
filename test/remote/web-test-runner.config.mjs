// `npm run test:remote` (browser half): the main test-runner setup, with only the remote-engine tests and a
// plugin that starts the llama.cpp loopback server (test/remote-server, installed by test:remote).
import base from '../../web-test-runner.config.mjs';
import { startLlamaServer } from '../remote-server/server.mjs';

function llamaServer() {
  let started = null;
  return {
    name: 'accel-llama-server',
    async serve(context) {
      if (context.path !== '/__llama-base-url') return undefined;
      started ??= startLlamaServer({ port: 0 });
      return { body: (await started).baseUrl, type: 'text/plain' };
    },
    async serverStop() {
      if (started) await (await started).close();
    },
  };
}

export default {
  ...base,
  files: ['test/remote/browser/**/*.test.ts'],
  plugins: [...base.plugins, llamaServer()],
};
