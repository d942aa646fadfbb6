import { css } from 'lit';
import { hostStyles, themeTokens } from '../../src/theme.js';

export const styles = [
  hostStyles,
  themeTokens,
  css`
    [part~='base'] {
      display: flex;
      flex-direction: column;
      gap: 8px;
      background: var(--_bg);
      border: 1px solid var(--_border);
      border-radius: var(--_radius);
      padding: var(--_gap);
    }
    [part~='transcript'] {
      min-height: var(--accel-stream-min-height, 6em);
      max-height: var(--accel-stream-max-height, 28em);
      overflow-y: auto;
      display: flex;
      flex-direction: column;
      gap: 8px;
    }
    [part~='turn'] {
      white-space: pre-wrap;
      overflow-wrap: anywhere;
      line-height: 1.45;
      padding: 6px 10px;
      border-radius: calc(var(--_radius) - 2px);
      background: var(--_card-bg);
    }
    [part~='turn-user'] {
      align-self: flex-end;
      max-width: 85%;
      background: color-mix(in srgb, var(--_accent) 14%, var(--_card-bg));
    }
    [part~='turn-assistant'] {
      align-self: flex-start;
      max-width: 100%;
    }
    [part~='output'] {
      font-family: var(--accel-stream-font-family, inherit);
    }
    .caret::after {
      content: '▍';
      animation: blink 1s steps(1) infinite;
      color: var(--_muted);
    }
    @keyframes blink {
      50% {
        opacity: 0;
      }
    }
    @media (prefers-reduced-motion: reduce) {
      .caret::after {
        animation: none;
      }
    }
    form {
      display: flex;
      gap: 8px;
      align-items: flex-end;
    }
    textarea {
      flex: 1;
      font: inherit;
      color: inherit;
      background: var(--_card-bg);
      border: 1px solid var(--_border);
      border-radius: calc(var(--_radius) - 2px);
      padding: 6px 8px;
      resize: vertical;
      min-height: 2.4em;
    }
    button {
      font: inherit;
      border-radius: calc(var(--_radius) - 2px);
      padding: 6px 14px;
      cursor: pointer;
      border: 1px solid var(--_accent);
    }
    [part~='send-button'] {
      background: var(--_accent);
      color: var(--_bg);
    }
    [part~='stop-button'] {
      background: transparent;
      color: var(--_accent);
    }
    button[disabled] {
      opacity: 0.5;
      cursor: not-allowed;
    }
    textarea:focus-visible,
    button:focus-visible {
      outline: 2px solid var(--_accent);
      outline-offset: 2px;
    }
    [part~='metrics'] {
      font-size: 0.8rem;
      color: var(--_muted);
      font-variant-numeric: tabular-nums;
      min-height: 1.2em;
    }
    [part~='error'] {
      color: var(--_no);
      font-size: 0.9rem;
    }
  `,
];
