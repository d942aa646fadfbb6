// Theming (issue 10): every element follows prefers-color-scheme out of the box, stays axe-clean (colour
// contrast included) in both schemes, and takes a brand theme through the documented --accel-* custom
// properties and ::part selectors.
import { expect, fixture, html } from '@open-wc/testing';
import { emulateMedia } from '@web/test-runner-commands';
import '../../src/index.js';
import { configureElements } from '../../src/engine-client.js';

// Each element in a state that needs no model download; `base` is its outer frame part.
const ELEMENTS = [
  html`<accel-capabilities compact></accel-capabilities>`,
  html`<accel-model src="/__models/tiny-llama/"></accel-model>`,
  html`<accel-stream prompt="Hello"></accel-stream>`,
  html`<accel-benchmark></accel-benchmark>`,
  html`<accel-image-classifier></accel-image-classifier>`,
  html`<accel-cache></accel-cache>`,
];

const LIGHT = { fg: 'rgb(29, 35, 48)', accent: 'rgb(47, 91, 211)' };
const DARK = { fg: 'rgb(230, 232, 236)', accent: 'rgb(155, 180, 255)' };

interface Look {
  tag: string;
  color: string;
  background: string;
  button: string | null;
}

async function looks(): Promise<Look[]> {
  const wrap = await fixture<HTMLDivElement>(html`<div>${ELEMENTS}</div>`);
  const els = [...wrap.children] as (HTMLElement & { updateComplete: Promise<unknown> })[];
  await Promise.all(els.map((e) => e.updateComplete));
  return els.map((el) => {
    const base = el.shadowRoot!.querySelector('[part~="base"]')!;
    const button = el.shadowRoot!.querySelector('button');
    return {
      tag: el.localName,
      color: getComputedStyle(el).color,
      background: getComputedStyle(base).backgroundColor,
      button: button ? getComputedStyle(button).color : null,
    };
  });
}

describe('theming: light, dark and a brand theme', function () {
  this.timeout(60_000);
  before(() => configureElements({ engine: 'inline' }));
  afterEach(() => emulateMedia({ colorScheme: 'light' }));

  it('every element switches its text, frame and button colours with prefers-color-scheme', async () => {
    await emulateMedia({ colorScheme: 'light' });
    const light = await looks();
    await emulateMedia({ colorScheme: 'dark' });
    const dark = await looks();
    expect(light.map((l) => l.tag)).to.deep.equal(['accel-capabilities', 'accel-model', 'accel-stream', 'accel-benchmark', 'accel-image-classifier', 'accel-cache']);
    for (const [i, l] of light.entries()) {
      const d = dark[i]!;
      expect(l.color, `${l.tag} light text`).to.equal(LIGHT.fg);
      expect(d.color, `${l.tag} dark text`).to.equal(DARK.fg);
      expect(d.background, `${l.tag} frame background changes`).to.not.equal(l.background);
      if (l.button && l.button !== l.background) expect(d.button, `${l.tag} button colour changes`).to.not.equal(l.button);
    }
    expect(light.filter((l) => l.button === LIGHT.accent).length, 'outlined buttons use the accent').to.be.greaterThan(2);
    expect(dark.filter((l) => l.button === DARK.accent).length).to.equal(light.filter((l) => l.button === LIGHT.accent).length);
  });

  it('--accel-color-scheme forces dark or light whatever the OS prefers (a page with its own theme switch)', async () => {
    await emulateMedia({ colorScheme: 'light' });
    const forcedDark = await fixture<HTMLDivElement>(html`<div style="--accel-color-scheme: dark"><accel-cache></accel-cache><accel-model></accel-model></div>`);
    for (const el of forcedDark.children) expect(getComputedStyle(el).color, el.localName).to.equal(DARK.fg);
    await emulateMedia({ colorScheme: 'dark' });
    const forcedLight = await fixture<HTMLDivElement>(html`<div style="--accel-color-scheme: light"><accel-cache></accel-cache><accel-model></accel-model></div>`);
    for (const el of forcedLight.children) expect(getComputedStyle(el).color, el.localName).to.equal(LIGHT.fg);
  });

  for (const scheme of ['light', 'dark'] as const) {
    it(`every element is axe-clean (colour contrast included) in ${scheme} mode`, async () => {
      await emulateMedia({ colorScheme: scheme });
      document.body.style.background = scheme === 'dark' ? '#000' : '#fff';
      try {
        for (const tpl of ELEMENTS) {
          const el = await fixture<HTMLElement & { updateComplete: Promise<unknown> }>(tpl);
          await el.updateComplete;
          await expect(el).to.be.accessible();
        }
      } finally {
        document.body.style.background = '';
      }
    });
  }

  // A brand theme that sets a light background pins the light scheme, so the tokens it leaves alone (muted,
  // border…) keep their contrast when the OS is dark.
  it('a brand theme through custom properties and ::part applies in both schemes', async () => {
    const style = document.createElement('style');
    style.textContent = `.brand { --accel-color-scheme: light; --accel-accent-color: #b4005a; --accel-radius: 2px; --accel-background: #fff8e7; --accel-color: #2b1a00; }
      .brand accel-cache::part(title) { text-transform: uppercase; letter-spacing: 0.08em; }`;
    document.head.append(style);
    try {
      for (const scheme of ['light', 'dark'] as const) {
        await emulateMedia({ colorScheme: scheme });
        const wrap = await fixture<HTMLDivElement>(html`<div class="brand"><accel-cache></accel-cache></div>`);
        const el = wrap.firstElementChild as HTMLElement & { updateComplete: Promise<unknown> };
        await el.updateComplete;
        const root = el.shadowRoot!;
        const base = getComputedStyle(root.querySelector('[part~="base"]')!);
        expect([base.backgroundColor, base.borderTopLeftRadius, getComputedStyle(el).color], scheme).to.deep.equal(['rgb(255, 248, 231)', '2px', 'rgb(43, 26, 0)']);
        expect(getComputedStyle(root.querySelector('[part~="refresh-button"]')!).color).to.equal('rgb(180, 0, 90)');
        expect(getComputedStyle(root.querySelector('[part~="title"]')!).textTransform).to.equal('uppercase');
        await expect(el).to.be.accessible();
      }
    } finally {
      style.remove();
    }
  });
});
