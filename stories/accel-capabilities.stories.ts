import type { Meta, StoryObj } from '@storybook/web-components-vite';
import { html } from 'lit';
import '../components/accel-capabilities/index.js';

interface Args {
  compact: boolean;
  showLimits: boolean;
  paramCount: number;
  precision: string;
  modelType: string;
}

const meta: Meta<Args> = {
  title: 'Elements/accel-capabilities',
  component: 'accel-capabilities',
  argTypes: {
    compact: { control: 'boolean' },
    showLimits: { control: 'boolean', name: 'show-limits' },
    paramCount: { control: { type: 'number', min: 0, step: 1e6 }, name: 'param-count' },
    precision: { control: 'select', options: ['f32', 'f16', 'q8', 'q4', 'q3', 'q2', 'original'] },
    modelType: { control: 'select', options: ['text-generation', 'feature-extraction', 'image-classification', 'speech-recognition', 'other'], name: 'model-type' },
  },
  args: { compact: false, showLimits: false, paramCount: 135e6, precision: 'q4', modelType: 'text-generation' },
  render: (a) => html`<accel-capabilities
    ?compact=${a.compact}
    ?show-limits=${a.showLimits}
    param-count=${a.paramCount}
    precision=${a.precision}
    model-type=${a.modelType}
  ></accel-capabilities>`,
};
export default meta;

type Story = StoryObj<Args>;

export const Default: Story = {};
export const WithLimits: Story = { args: { showLimits: true } };
export const Compact: Story = { args: { compact: true } };
export const LargeModel: Story = { args: { paramCount: 8e9, precision: 'q4' } };
