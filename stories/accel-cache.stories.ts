import type { Meta, StoryObj } from '@storybook/web-components-vite';
import { html } from 'lit';
import '../components/accel-cache/index.js';
import '../components/accel-model/index.js';

interface Args {
  compact: boolean;
  noConfirm: boolean;
}

// The shipped model loads first so there is something cached; the manager refreshes when it is ready.
const meta: Meta<Args> = {
  title: 'Elements/accel-cache',
  component: 'accel-cache',
  argTypes: {
    compact: { control: 'boolean' },
    noConfirm: { control: 'boolean', name: 'no-confirm' },
  },
  args: { compact: false, noConfirm: false },
  render: (a) => html`<div style="display:grid;gap:12px;max-width:900px">
    <accel-model src="/models/tiny-llama/" backend="wasm" preload></accel-model>
    <accel-cache ?compact=${a.compact} ?no-confirm=${a.noConfirm}></accel-cache>
  </div>`,
};
export default meta;

type Story = StoryObj<Args>;

export const Default: Story = {};
export const Compact: Story = { args: { compact: true } };
export const NoConfirm: Story = { args: { noConfirm: true } };
