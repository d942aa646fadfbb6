import { css } from 'lit';
import { buttonStyles, hostStyles, themeTokens } from '../../src/theme.js';

export const styles = [
  hostStyles,
  themeTokens,
  buttonStyles,
  css`
    :host {
      --_chart-height: var(--accel-benchmark-chart-height, 220px);
    }
    [part~='base'] {
      background: var(--_bg);
      border: 1px solid var(--_border);
      border-radius: var(--_radius);
      padding: var(--_gap);
    }
    header {
      display: flex;
      flex-wrap: wrap;
      align-items: center;
      gap: var(--_gap);
    }
    h2 {
      font-size: 1.1rem;
      margin: 0;
      margin-right: auto;
    }
    h3 {
      font-size: 0.95rem;
      margin: var(--_gap) 0 6px;
    }
    [part~='run-button'] {
      color: var(--_bg);
      background: var(--_accent);
      border-color: var(--_accent);
    }
    [part~='settings'] {
      color: var(--_muted);
      margin: 6px 0;
      font-size: 0.9rem;
    }
    [part~='progress'] {
      display: flex;
      align-items: center;
      gap: 8px;
      margin: 8px 0;
    }
    progress {
      flex: 1;
      accent-color: var(--_accent);
      height: 0.9em;
    }
    [part~='status'] {
      min-width: 12em;
      font-size: 0.9rem;
    }
    [part~='error'] {
      color: var(--_no);
      margin: 6px 0;
    }
    .table-wrap {
      overflow-x: auto;
    }
    table {
      border-collapse: collapse;
      font-size: 0.85rem;
      width: 100%;
    }
    caption {
      text-align: left;
      color: var(--_muted);
      padding-bottom: 4px;
    }
    th,
    td {
      border-bottom: 1px solid var(--_border);
      padding: 4px 8px;
      text-align: left;
      white-space: nowrap;
    }
    td.num {
      text-align: right;
      font-variant-numeric: tabular-nums;
      font-family: var(--_mono);
    }
    tr.failed td {
      color: var(--_no);
      white-space: normal;
    }
    [part~='charts'] {
      display: grid;
      grid-template-columns: repeat(auto-fit, minmax(280px, 1fr));
      gap: var(--_gap);
      margin-top: var(--_gap);
    }
    figure {
      margin: 0;
      background: var(--_card-bg);
      border-radius: calc(var(--_radius) - 2px);
      padding: 8px;
    }
    figcaption {
      font-size: 0.85rem;
      color: var(--_muted);
      margin-bottom: 4px;
    }
    .chart-box {
      position: relative;
      height: var(--_chart-height);
    }
    [part~='exports'] {
      display: flex;
      flex-wrap: wrap;
      gap: 8px;
      align-items: center;
      margin-top: var(--_gap);
    }
  `,
];
