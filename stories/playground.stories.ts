import type { Meta, StoryObj } from '@storybook/web-components-vite';
import { html } from 'lit';
import '../src/index.js';

interface Args {
  backend: string;
  precision: string;
  prompt: string;
  maxTokens: number;
  temperature: number;
  accent: string;
}

// Everything together on the shipped model: what the device can do, the model, a stream and a benchmark
// of the same model, themed through the documented custom properties (light/dark follows the OS's
// prefers-color-scheme).
const meta: Meta<Args> = {
  title: 'Playground',
  parameters: { layout: 'padded' },
  argTypes: {
    backend: { control: 'select', options: ['auto', 'webgpu', 'wasm', 'cpu'] },
    precision: { control: 'select', options: ['original', 'q8', 'q4', 'q3', 'q2', 'mixed'] },
    prompt: { control: 'text' },
    maxTokens: { control: { type: 'number', min: 1, max: 256 }, name: 'max-tokens' },
    temperature: { control: { type: 'range', min: 0, max: 2, step: 0.05 } },
    accent: { control: 'color', description: '--accel-accent-color' },
  },
  args: { backend: 'wasm', precision: 'original', prompt: 'You will', maxTokens: 32, temperature: 0.7, accent: '' },
  render: (a) => html`
    <div style="display:grid;gap:12px;max-width:900px;${a.accent ? `--accel-accent-color:${a.accent};` : ''}">
      <accel-capabilities compact param-count="4.4e6" precision=${a.precision === 'original' ? 'f32' : a.precision}></accel-capabilities>
      <accel-model id="play" src="/models/tiny-llama/" backend=${a.backend} precision=${a.precision} preload></accel-model>
      <accel-stream model="play" prompt=${a.prompt} max-tokens=${a.maxTokens} temperature=${a.temperature}></accel-stream>
      <accel-benchmark model="play" backends=${a.backend === 'auto' ? '' : a.backend} precisions=${a.precision} max-tokens="8" iterations="2" db="accel-bench-storybook"></accel-benchmark>
    </div>
  `,
};
export default meta;

type Story = StoryObj<Args>;

export const ModelStreamBenchmark: Story = {};
export const Themed: Story = { args: { accent: '#b4005a' } };
