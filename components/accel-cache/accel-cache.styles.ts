import { css } from 'lit';
import { buttonStyles, hostStyles, themeTokens } from '../../src/theme.js';

export const styles = [
  hostStyles,
  themeTokens,
  buttonStyles,
  css`
    [part~='base'] {
      background: var(--_bg);
      border: 1px solid var(--_border);
      border-radius: var(--_radius);
      padding: var(--_gap);
      font-size: 0.9rem;
    }
    header {
      display: flex;
      flex-wrap: wrap;
      align-items: center;
      justify-content: space-between;
      gap: var(--_gap);
      margin-bottom: 8px;
    }
    h2 {
      font-size: 1.1rem;
      margin: 0;
    }
    [part~='toolbar'] {
      display: flex;
      flex-wrap: wrap;
      align-items: center;
      gap: 8px;
    }
    [part~='usage'] p,
    [part~='usage-text'],
    [part~='empty'],
    [part~='error'] {
      margin: 0 0 6px;
    }
    [part~='meter'] {
      height: 8px;
      border-radius: 4px;
      background: var(--_card-bg);
      border: 1px solid var(--_border);
      overflow: hidden;
      margin: 0 0 6px;
    }
    [part~='meter-fill'] {
      height: 100%;
      min-width: 2px;
      background: var(--_accent);
    }
    [part~='persistence'] {
      color: var(--_muted);
    }
    [part~='persistence'][data-persisted='true'] {
      color: var(--_ok);
    }
    [part~='empty'] {
      color: var(--_muted);
    }
    [part~='error'] {
      color: var(--_no);
    }
    [part~='model'] {
      background: var(--_card-bg);
      border: 1px solid var(--_border);
      border-radius: var(--_radius);
      padding: 8px 12px;
      margin-top: var(--_gap);
      overflow-x: auto;
    }
    .model-head {
      display: flex;
      flex-wrap: wrap;
      align-items: center;
      gap: 4px 12px;
    }
    h3 {
      font-size: 0.95rem;
      margin: 0;
      font-family: var(--_mono);
      overflow-wrap: anywhere;
      flex: 1 1 16em;
    }
    [part~='model-size'] {
      color: var(--_muted);
      font-variant-numeric: tabular-nums;
    }
    table {
      width: 100%;
      border-collapse: collapse;
      margin-top: 6px;
      font-variant-numeric: tabular-nums;
    }
    th,
    td {
      text-align: left;
      padding: 4px 8px 4px 0;
      border-top: 1px solid var(--_border);
      vertical-align: middle;
    }
    /* the same column widths in every model's table, so the tables line up */
    thead th:nth-child(1) {
      width: 38%;
    }
    thead th:nth-child(2) {
      width: 22%;
    }
    :host([compact]) thead th:nth-child(1) {
      width: 50%;
    }
    thead th {
      border-top: none;
      color: var(--_muted);
      font-weight: 600;
      font-size: 0.8rem;
    }
    [part~='file'] {
      font-family: var(--_mono);
      font-weight: normal;
      overflow-wrap: anywhere;
    }
    [part~='size'] data {
      white-space: nowrap;
    }
    [part~='bytes'],
    [part~='date'] {
      color: var(--_muted);
      font-size: 0.8rem;
    }
    [part~='bytes'] {
      font-family: var(--_mono);
    }
    td.actions {
      text-align: right;
      padding-right: 0;
      white-space: nowrap;
    }
    [part~='confirm'] {
      display: inline-flex;
      flex-wrap: wrap;
      align-items: center;
      gap: 6px;
    }
    td.actions [part~='confirm'] {
      flex-wrap: nowrap;
    }
    [part~='confirm'] .question {
      color: var(--_no);
      font-weight: 600;
    }
    [part~='confirm-button'] {
      color: var(--_no);
      border-color: currentColor;
    }
    :host([compact]) [part~='base'] {
      padding: 8px;
    }
    :host([compact]) [part~='model'] {
      padding: 6px 8px;
    }
  `,
];
