import type { Meta, StoryObj } from '@storybook/web-components-vite';
import { html } from 'lit';
import '../components/accel-model/index.js';

interface Args {
  src: string;
  backend: string;
  precision: string;
  preload: boolean;
  memoryProfile: string;
}

// The shipped model is served from /models by .storybook/main.ts (staticDirs).
const meta: Meta<Args> = {
  title: 'Elements/accel-model',
  component: 'accel-model',
  argTypes: {
    src: { control: 'text' },
    backend: { control: 'select', options: ['auto', 'webgpu', 'wasm', 'cpu'] },
    precision: { control: 'select', options: ['original', 'q8', 'q4', 'q3', 'q2', 'mixed'] },
    preload: { control: 'boolean' },
    memoryProfile: { control: 'select', options: ['low', 'balanced', 'max'], name: 'memory-profile' },
  },
  args: { src: '/models/tiny-llama/', backend: 'wasm', precision: 'original', preload: true, memoryProfile: 'balanced' },
  render: (a) => html`<accel-model
    src=${a.src}
    backend=${a.backend}
    precision=${a.precision}
    ?preload=${a.preload}
    memory-profile=${a.memoryProfile}
  ></accel-model>`,
};
export default meta;

type Story = StoryObj<Args>;

export const Preloaded: Story = {};
export const LoadOnClick: Story = { args: { preload: false } };
export const Quantized: Story = { args: { precision: 'q4' } };
export const MissingModel: Story = { args: { src: '/models/does-not-exist/' } };
