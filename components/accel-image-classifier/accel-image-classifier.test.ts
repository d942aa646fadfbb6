import { expect, fixture, html, oneEvent } from '@open-wc/testing';
import '../accel-model/index.js';
import './index.js';
import type { AccelImageClassifier } from './accel-image-classifier.js';
import { configureElements } from '../../src/engine-client.js';

const MODEL = '/models/tiny-vit/';
interface RefImage { name: string; png: string; logits: number[]; top5: { label: string; score: number }[] }
const reference = async () => ((await (await fetch('/test/fixtures/models/tiny-vit/reference.json')).json()) as { images: RefImage[] }).images;
const pngFile = async (im: RefImage) => new File([await (await fetch(`/${im.png}`)).blob()], `${im.name}.png`, { type: 'image/png' });

for (const mode of ['inline', 'worker'] as const) {
  describe(`<accel-model task="image-classification"> + <accel-image-classifier> (${mode} engine)`, () => {
    before(() => configureElements({ engine: mode }));
    after(() => configureElements({ engine: 'inline' }));

    it('classifies a chosen file: the reference top-k labels, an accel-classified event and a rendered list', async () => {
      const [im] = await reference();
      const root = await fixture<HTMLDivElement>(html`<div>
        <accel-model id="vit-${mode}" src=${MODEL} backend="cpu" task="image-classification" preload></accel-model>
        <accel-image-classifier model="vit-${mode}" top-k="3"></accel-image-classifier>
      </div>`);
      const el = root.querySelector('accel-image-classifier')!;
      const event = oneEvent(el, 'accel-classified');
      const result = await el.classify(await pngFile(im!));
      const detail = (await event).detail;
      expect(result.labels.map((l) => l.label)).to.deep.equal(im!.top5.slice(0, 3).map((l) => l.label));
      expect(detail.labels).to.deep.equal(result.labels);
      expect([detail.width, detail.height]).to.deep.equal([48, 40]);
      result.labels.forEach((l, i) => expect(Math.abs(l.score - im!.top5[i]!.score)).to.be.at.most(1e-4));
      await el.updateComplete;
      const rows = [...el.shadowRoot!.querySelectorAll('[part~="result"]')];
      expect(rows.map((r) => r.querySelector('[part~="label"]')!.textContent)).to.deep.equal(result.labels.map((l) => l.label));
      expect(rows[0]!.querySelector('[part~="score"]')!.textContent).to.equal(`${(im!.top5[0]!.score * 100).toFixed(1)}%`);
      expect(el.shadowRoot!.querySelector('[part~="status"]')!.textContent).to.contain(`Top label: ${im!.top5[0]!.label}`);
      expect(el.shadowRoot!.querySelector('[part~="preview"]')).to.exist;
      await expect(el).to.be.accessible();
      root.querySelector('accel-model')!.unload();
    });
  });
}

describe('<accel-image-classifier> input and errors', () => {
  before(() => configureElements({ engine: 'inline' }));

  it('classifies a dropped image; the choose button is reachable by keyboard', async () => {
    const [, im] = await reference();
    const el = await fixture<AccelImageClassifier>(html`<accel-image-classifier src=${MODEL}></accel-image-classifier>`);
    expect(el.topK).to.equal(5);
    el.topK = 2;
    await el.updateComplete;
    expect(el.getAttribute('top-k')).to.equal('2');
    const button = el.shadowRoot!.querySelector<HTMLButtonElement>('[part~="choose-button"]')!;
    button.focus();
    expect(el.shadowRoot!.activeElement).to.equal(button);
    const dt = new DataTransfer();
    dt.items.add(await pngFile(im!));
    const event = oneEvent(el, 'accel-classified');
    el.shadowRoot!.querySelector('[part~="drop-zone"]')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    const { detail } = await event;
    expect(detail.labels.map((l: { label: string }) => l.label)).to.deep.equal(im!.top5.slice(0, 2).map((l) => l.label));
  });

  it('a text file gives accel-error (invalid-argument) and an alert', async () => {
    const el = await fixture<AccelImageClassifier>(html`<accel-image-classifier src=${MODEL}></accel-image-classifier>`);
    const error = oneEvent(el, 'accel-error');
    await el.classify(new File(['not an image'], 'notes.txt', { type: 'text/plain' })).catch(() => undefined);
    expect((await error).detail.code).to.equal('invalid-argument');
    await el.updateComplete;
    expect(el.shadowRoot!.querySelector('[part~="error"][role="alert"]')!.textContent).to.contain('not an image');
    await expect(el).to.be.accessible();
  });

  it('a text model gives accel-error: on <accel-model task> at load, and on classify()', async () => {
    const modelEl = await fixture(html`<accel-model id="bert-as-vit" src="/models/tiny-bert/" backend="cpu" task="image-classification"></accel-model>`);
    const loadError = oneEvent(modelEl, 'accel-error');
    void (modelEl as HTMLElementTagNameMap['accel-model']).load().catch(() => undefined);
    const e1 = (await loadError).detail;
    expect(e1.code).to.equal('invalid-argument');
    expect(e1.message).to.contain('feature-extraction model');
    const el = await fixture<AccelImageClassifier>(html`<accel-image-classifier src="/models/tiny-bert/"></accel-image-classifier>`);
    const [im] = await reference();
    const error = oneEvent(el, 'accel-error');
    await el.classify(await pngFile(im!)).catch(() => undefined);
    expect((await error).detail.message).to.contain('not an image classifier');
  });
});
