import type { Meta, StoryObj } from '@storybook/web-components-vite';
import { html } from 'lit';
import '../components/accel-model/index.js';
import '../components/accel-stream/index.js';

interface Args {
  backend: string;
  chat: boolean;
  prompt: string;
  system: string;
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  stop: string;
}

// The shipped model is served from /models by .storybook/main.ts (staticDirs).
const meta: Meta<Args> = {
  title: 'Elements/accel-stream',
  component: 'accel-stream',
  argTypes: {
    backend: { control: 'select', options: ['auto', 'webgpu', 'wasm', 'cpu'] },
    chat: { control: 'boolean' },
    prompt: { control: 'text' },
    system: { control: 'text' },
    maxTokens: { control: { type: 'number', min: 1, max: 512 }, name: 'max-tokens' },
    temperature: { control: { type: 'range', min: 0, max: 2, step: 0.05 } },
    topK: { control: { type: 'number', min: 0, max: 200 }, name: 'top-k' },
    topP: { control: { type: 'range', min: 0, max: 1, step: 0.05 }, name: 'top-p' },
    seed: { control: 'number' },
    stop: { control: 'text' },
  },
  args: { backend: 'auto', chat: false, prompt: 'Love is', system: '', maxTokens: 64, temperature: 0.8, topK: 40, topP: 1, seed: 1, stop: '' },
  render: (a) => html`
    <accel-model id="story-model" src="/models/tiny-llama/" backend=${a.backend} preload></accel-model>
    <accel-stream
      model="story-model"
      ?chat=${a.chat}
      prompt=${a.prompt}
      system=${a.system}
      max-tokens=${a.maxTokens}
      temperature=${a.temperature}
      top-k=${a.topK}
      top-p=${a.topP}
      seed=${a.seed}
      stop=${a.stop}
    ></accel-stream>
  `,
};
export default meta;

type Story = StoryObj<Args>;

export const Completion: Story = {};
export const Greedy: Story = { args: { temperature: 0, prompt: 'In the beginning' } };
export const Chat: Story = { args: { chat: true, system: 'You are a witty fortune cookie.', prompt: 'Tell me a fortune.' } };
