import { css } from 'lit';
import { buttonStyles, hostStyles, themeTokens } from '../../src/theme.js';

export const styles = [
  hostStyles,
  themeTokens,
  buttonStyles,
  css`
    :host {
      container-type: inline-size;
    }
    [part~='base'] {
      background: var(--_bg);
      border: 1px solid var(--_border);
      border-radius: var(--_radius);
      padding: var(--_gap);
    }
    header {
      display: flex;
      align-items: center;
      justify-content: space-between;
      gap: var(--_gap);
      margin-bottom: var(--_gap);
    }
    h2 {
      font-size: 1.1rem;
      margin: 0;
    }
    h3 {
      font-size: 0.95rem;
      margin: 0 0 8px;
    }
    button[disabled] {
      cursor: progress;
    }
    [part~='cards'] {
      display: grid;
      grid-template-columns: repeat(auto-fit, minmax(min(100%, 240px), 1fr));
      gap: var(--_gap);
    }
    [part~='card'] {
      background: var(--_card-bg);
      border: 1px solid var(--_border);
      border-radius: var(--_radius);
      padding: 10px 12px;
      min-width: 0;
    }
    [part~='card-recommendation'],
    [part~='card-limits'] {
      grid-column: 1 / -1;
    }
    dl.limits {
      grid-template-columns: repeat(auto-fill, minmax(min(100%, 200px), max-content) minmax(90px, 1fr));
    }
    dl {
      display: grid;
      grid-template-columns: auto 1fr;
      gap: 4px 12px;
      margin: 0;
      font-size: 0.875rem;
    }
    dt {
      color: var(--_muted);
    }
    dd {
      margin: 0;
      overflow-wrap: anywhere;
    }
    .mono {
      font-family: var(--_mono);
      font-size: 0.8rem;
    }
    [part~='yes'] {
      color: var(--_ok);
      font-weight: 600;
    }
    [part~='no'] {
      color: var(--_no);
      font-weight: 600;
    }
    [part~='warning'] {
      color: var(--_warn);
    }
    ol {
      margin: 0;
      padding-left: 1.4em;
      font-size: 0.875rem;
    }
    ol li {
      margin: 2px 0;
    }
    ol li[data-usable='false'] {
      color: var(--_muted);
    }
    .backend {
      font-weight: 600;
    }
    [part~='loading'],
    [part~='error'] {
      margin: 0;
      font-size: 0.9rem;
    }
    [part~='error'] {
      color: var(--_no);
    }
    :host([compact]) [part~='base'] {
      padding: 8px;
    }
    :host([compact]) [part~='cards'] {
      grid-template-columns: repeat(auto-fit, minmax(min(100%, 180px), 1fr));
      gap: 8px;
    }
    :host([compact]) dl {
      font-size: 0.8rem;
    }
  `,
];
