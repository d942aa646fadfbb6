import { spawn } from 'node:child_process';

/**
 * Test-server plugin: on the first GET /__ws-port it starts tools/ws-server.ts (the engine under Node
 * streaming the shipped model over WebSocket on loopback) and answers its port.
 */
export function wsStreamServer() {
  let child = null;
  let port = null;
  const start = () =>
    (port ??= new Promise((resolve, reject) => {
      child = spawn(process.execPath, ['--import', 'tsx', 'tools/ws-server.ts', '--port', '0', '--backend', 'wasm'], { stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout.on('data', (d) => {
        const m = /ws:\/\/[^:]+:(\d+)/.exec(String(d));
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', (code) => reject(new Error(`tools/ws-server.ts exited with ${code}`)));
    }));
  return {
    name: 'accel-ws-stream',
    async serve(context) {
      if (context.path !== '/__ws-port') return undefined;
      return { body: String(await start()), type: 'text/plain' };
    },
    serverStop() {
      child?.kill();
    },
  };
}
