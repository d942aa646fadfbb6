import { css } from 'lit';

/**
 * Design tokens shared by every element. Each reads an `--accel-*` custom property, so a page themes
 * all elements at once; light and dark follow prefers-color-scheme.
 */
export const themeTokens = css`
  :host {
    --_fg: var(--accel-color, #1d2330);
    --_bg: var(--accel-background, #ffffff);
    --_muted: var(--accel-muted-color, #5b6474);
    --_card-bg: var(--accel-card-background, #f6f7f9);
    --_border: var(--accel-border-color, #d9dde3);
    --_radius: var(--accel-radius, 8px);
    --_gap: var(--accel-gap, 12px);
    --_ok: var(--accel-ok-color, #137333);
    --_no: var(--accel-no-color, #b3261e);
    --_warn: var(--accel-warn-color, #8a5a00);
    --_accent: var(--accel-accent-color, #2f5bd3);
    --_font: var(--accel-font-family, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif);
    --_mono: var(--accel-mono-font-family, ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace);
    color-scheme: light dark;
    font-family: var(--_font);
    color: var(--_fg);
  }
  @media (prefers-color-scheme: dark) {
    :host {
      --_fg: var(--accel-color, #e6e8ec);
      --_bg: var(--accel-background, #14171c);
      --_muted: var(--accel-muted-color, #a3abb8);
      --_card-bg: var(--accel-card-background, #1d2128);
      --_border: var(--accel-border-color, #343a45);
      --_ok: var(--accel-ok-color, #6dd58c);
      --_no: var(--accel-no-color, #f2b8b5);
      --_warn: var(--accel-warn-color, #f0c36b);
      --_accent: var(--accel-accent-color, #9bb4ff);
    }
  }
  .visually-hidden {
    position: absolute;
    width: 1px;
    height: 1px;
    margin: -1px;
    padding: 0;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
    border: 0;
  }
`;

/** The quiet outlined button every element uses for secondary actions, with a visible focus ring. */
export const buttonStyles = css`
  button {
    font: inherit;
    color: var(--_accent);
    background: transparent;
    border: 1px solid var(--_border);
    border-radius: calc(var(--_radius) - 2px);
    padding: 4px 10px;
    cursor: pointer;
  }
  button:focus-visible {
    outline: 2px solid var(--_accent);
    outline-offset: 2px;
  }
  button[disabled] {
    opacity: 0.6;
    cursor: not-allowed;
  }
`;
