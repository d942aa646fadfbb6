import { css } from 'lit';
import { buttonStyles, hostStyles, themeTokens } from '../../src/theme.js';

export const styles = [
  hostStyles,
  themeTokens,
  buttonStyles,
  css`
    [part~='base'] {
      background: var(--_card-bg);
      border: 1px solid var(--_border);
      border-radius: var(--_radius);
      padding: 12px;
      display: grid;
      gap: var(--_gap);
    }
    [part~='drop-zone'] {
      border: 2px dashed var(--_border);
      border-radius: var(--_radius);
      padding: 16px;
      display: flex;
      gap: var(--_gap);
      align-items: center;
      flex-wrap: wrap;
    }
    [part~='drop-zone'].over {
      border-color: var(--_accent);
    }
    [part~='preview'] {
      width: var(--accel-image-classifier-preview-size, 160px);
      height: var(--accel-image-classifier-preview-size, 160px);
      object-fit: contain;
      background: var(--_bg);
      border-radius: calc(var(--_radius) - 2px);
    }
    [part~='results'] {
      margin: 0;
      padding-left: 1.5em;
      display: grid;
      gap: 4px;
    }
    [part~='result'] {
      display: grid;
      grid-template-columns: minmax(8em, auto) 1fr 4em;
      gap: 8px;
      align-items: center;
      font-variant-numeric: tabular-nums;
    }
    [part~='bar'] {
      width: 100%;
      accent-color: var(--_accent);
    }
    [part~='status'] {
      color: var(--_muted);
    }
    [part~='error'] {
      color: var(--_no);
    }
  `,
];
