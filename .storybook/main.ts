import type { StorybookConfig } from '@storybook/web-components-vite';

const config: StorybookConfig = {
  stories: ['../stories/**/*.stories.ts'],
  framework: { name: '@storybook/web-components-vite', options: {} },
  core: { disableTelemetry: true, disableWhatsNewNotifications: true },
  // The shipped models, so stories run real generation with nothing downloaded.
  staticDirs: [{ from: '../models', to: '/models' }],
};

export default config;
