// The module an engine Worker runs. As a dedicated Worker it serves the page that started it; as a
// SharedWorker it serves every tab of the origin that connects, each over its own port, from one engine
// (so a model loaded by one tab is the same loaded copy for the others).
import { serveEngine } from './worker-host.js';

type Port = Parameters<typeof serveEngine>[0];
const scope = globalThis as unknown as { onconnect?: unknown; addEventListener(type: 'connect', f: (e: MessageEvent) => void): void };

if ('onconnect' in scope) {
  scope.addEventListener('connect', (e) => {
    const port = e.ports[0]!;
    serveEngine(port as unknown as Port);
    port.start();
  });
} else {
  serveEngine(globalThis as unknown as Port);
}
