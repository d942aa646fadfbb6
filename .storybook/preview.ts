import type { Preview } from '@storybook/web-components-vite';
import { setCustomElementsManifest } from '@storybook/web-components-vite';
import manifest from '../dist/custom-elements.json';

// Docs and controls come from the same manifest users get in the package.
setCustomElementsManifest(manifest);

const preview: Preview = {
  parameters: {
    controls: { expanded: true },
    actions: { handles: ['accel-capabilities-ready', 'accel-load-progress', 'accel-ready', 'accel-unload', 'accel-token', 'accel-done', 'accel-error'] },
  },
};

export default preview;
