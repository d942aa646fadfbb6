import type { Meta, StoryObj } from '@storybook/web-components-vite';
import { html } from 'lit';
import '../components/accel-model/index.js';
import '../components/accel-benchmark/index.js';

interface Args {
  backends: string;
  precisions: string;
  promptTokens: string;
  maxTokens: number;
  iterations: number;
  warmup: number;
}

const meta: Meta<Args> = {
  title: 'Elements/accel-benchmark',
  component: 'accel-benchmark',
  parameters: { actions: { handles: ['accel-benchmark-progress', 'accel-benchmark-complete', 'accel-error'] } },
  argTypes: {
    backends: { control: 'text' },
    precisions: { control: 'text' },
    promptTokens: { control: 'text', name: 'prompt-tokens' },
    maxTokens: { control: { type: 'number', min: 1, max: 256 }, name: 'max-tokens' },
    iterations: { control: { type: 'number', min: 1, max: 50 } },
    warmup: { control: { type: 'number', min: 0, max: 10 } },
  },
  args: { backends: 'wasm cpu', precisions: 'original q8', promptTokens: '16', maxTokens: 8, iterations: 3, warmup: 1 },
  render: (a) => html`
    <accel-model id="bench-model" src="/models/tiny-llama/" backend="wasm"></accel-model>
    <accel-benchmark
      model="bench-model"
      backends=${a.backends}
      precisions=${a.precisions}
      prompt-tokens=${a.promptTokens}
      max-tokens=${a.maxTokens}
      iterations=${a.iterations}
      warmup=${a.warmup}
      db="accel-bench-storybook"
    ></accel-benchmark>
  `,
};
export default meta;

type Story = StoryObj<Args>;

export const Matrix: Story = {};
export const OneCell: Story = { args: { backends: 'wasm', precisions: 'original', iterations: 2 } };
