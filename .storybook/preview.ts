import type { Preview } from '@storybook/web-components-vite';
import { setCustomElementsManifest } from '@storybook/web-components-vite';
import manifest from '../dist/custom-elements.json';
import { configureElements } from '../src/engine-client.js';

// Docs and controls come from the same manifest users get in the package.
setCustomElementsManifest(manifest);

// Stories import the sources, where the Worker script is worker-entry.ts, which Vite's build copies as a
// raw asset rather than a bundled worker; models run in the page instead (the built package's worker is
// tested by the framework apps).
configureElements({ engine: 'inline' });

const preview: Preview = {
  parameters: {
    controls: { expanded: true },
    actions: { handles: ['accel-capabilities-ready', 'accel-load-progress', 'accel-ready', 'accel-unload', 'accel-token', 'accel-done', 'accel-cache-listed', 'accel-cache-change', 'accel-cache-persisted', 'accel-error'] },
  },
};

export default preview;
