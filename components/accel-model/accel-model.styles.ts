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
      padding: 10px 12px;
      font-size: 0.9rem;
    }
    [part~='name'] {
      font-weight: 600;
    }
    [part~='details'] {
      color: var(--_muted);
      margin-top: 2px;
    }
    [part~='progress'] {
      width: 100%;
      height: 8px;
      margin-top: 8px;
      accent-color: var(--_accent);
    }
    [part~='status'] {
      margin-top: 4px;
      color: var(--_muted);
      font-variant-numeric: tabular-nums;
    }
    [part~='error'] {
      color: var(--_no);
      margin-top: 4px;
    }
    button {
      padding: 2px 10px;
      margin-top: 6px;
    }
  `,
];
