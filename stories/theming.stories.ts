import type { Meta, StoryObj } from '@storybook/web-components-vite';
import { html } from 'lit';
import '../src/index.js';

interface Args {
  scheme: 'light dark' | 'light' | 'dark';
  accent: string;
  radius: string;
  brand: boolean;
}

// Every element takes its look from the documented --accel-* custom properties and ::part selectors.
// Light and dark come out of the box (prefers-color-scheme); --accel-color-scheme forces one, as a page with
// its own theme switch would. The brand theme below is a few custom properties and two ::part rules.
const brandCss = html`<style>
  .brand {
    --accel-color-scheme: light;
    --accel-accent-color: #b4005a;
    --accel-background: #fff8f0;
    --accel-card-background: #fdeee4;
    --accel-border-color: #e9c6b5;
    --accel-color: #2b1a10;
    --accel-muted-color: #6d4c3d;
    --accel-radius: 2px;
    --accel-font-family: Georgia, 'Times New Roman', serif;
  }
  .brand accel-cache::part(title),
  .brand accel-capabilities::part(title) {
    text-transform: uppercase;
    letter-spacing: 0.08em;
  }
  .brand accel-model::part(progress) {
    height: 4px;
  }
</style>`;

const panel = (a: Args, label: string) => html`<section
  class=${a.brand ? 'brand' : ''}
  aria-label=${label}
  style="display:grid;grid-template-columns:minmax(0,1fr);gap:12px;padding:16px;border-radius:8px;--accel-color-scheme:${a.brand ? 'light' : a.scheme};color-scheme:${a.brand ? 'light' : a.scheme};background:Canvas;color:CanvasText;${a.accent ? `--accel-accent-color:${a.accent};` : ''}${a.radius ? `--accel-radius:${a.radius};` : ''}"
>
  <h2 style="margin:0;font:600 1rem system-ui">${label}</h2>
  <accel-capabilities compact param-count="4.4e6" precision="f32"></accel-capabilities>
  <accel-model id=${`theme-${label.replace(/\W+/g, '-')}`} src="/models/tiny-llama/" backend="wasm" preload></accel-model>
  <accel-stream model=${`theme-${label.replace(/\W+/g, '-')}`} prompt="You will" max-tokens="16"></accel-stream>
  <accel-cache compact></accel-cache>
</section>`;

const meta: Meta<Args> = {
  title: 'Theming',
  parameters: { layout: 'padded' },
  argTypes: {
    scheme: { control: 'inline-radio', options: ['light dark', 'light', 'dark'], description: '--accel-color-scheme' },
    accent: { control: 'color', description: '--accel-accent-color' },
    radius: { control: 'text', description: '--accel-radius' },
    brand: { control: 'boolean', description: 'the brand theme (custom properties + ::part)' },
  },
  args: { scheme: 'light dark', accent: '', radius: '', brand: false },
  render: (a) => html`${brandCss}<div style="max-width:900px">${panel(a, a.brand ? 'Brand theme' : a.scheme === 'light dark' ? 'Follows the OS' : `${a.scheme[0]!.toUpperCase()}${a.scheme.slice(1)}`)}</div>`,
};
export default meta;

type Story = StoryObj<Args>;

export const Light: Story = { args: { scheme: 'light' } };
export const Dark: Story = { args: { scheme: 'dark' } };
export const Brand: Story = { args: { brand: true } };
/** Light, dark and the brand theme on one page. */
export const SideBySide: Story = {
  render: () => html`${brandCss}<div style="display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,320px),1fr));gap:16px">
    ${panel({ scheme: 'light', accent: '', radius: '', brand: false }, 'Light')}
    ${panel({ scheme: 'dark', accent: '', radius: '', brand: false }, 'Dark')}
    ${panel({ scheme: 'light', accent: '', radius: '', brand: true }, 'Brand theme')}
  </div>`,
};
