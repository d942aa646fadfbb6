import { css, unsafeCSS } from 'lit';

// [token, custom property, light, dark]: the colour palette, light and dark. Dark pairs keep at least 4.5:1
// text contrast on their own backgrounds, like the light ones.
const PALETTE: readonly (readonly [string, string, string, string])[] = [
  ['fg', 'color', '#1d2330', '#e6e8ec'],
  ['bg', 'background', '#ffffff', '#14171c'],
  ['muted', 'muted-color', '#5b6474', '#a3abb8'],
  ['card-bg', 'card-background', '#f6f7f9', '#1d2128'],
  ['border', 'border-color', '#d9dde3', '#343a45'],
  ['ok', 'ok-color', '#137333', '#6dd58c'],
  ['no', 'no-color', '#b3261e', '#f2b8b5'],
  ['warn', 'warn-color', '#8a5a00', '#f0c36b'],
  ['accent', 'accent-color', '#2f5bd3', '#9bb4ff'],
];
const tokens = (pick: (light: string, dark: string) => string) =>
  unsafeCSS(PALETTE.map(([token, prop, light, dark]) => `--_${token}: var(--accel-${prop}, ${pick(light, dark)});`).join('\n'));

/** Every element is a block and honours the `hidden` attribute (an element's own :host rules come after). */
export const hostStyles = css`
  :host {
    display: block;
  }
  :host([hidden]) {
    display: none;
  }
`;

/**
 * Design tokens shared by every element. Each reads an `--accel-*` custom property, so a page themes
 * all elements at once. Light and dark follow prefers-color-scheme through light-dark(), so a page or a
 * container can also force one with `--accel-color-scheme: dark` (or `light`), e.g. behind its own theme
 * switch; browsers without light-dark() fall back to a prefers-color-scheme media query.
 */
export const themeTokens = css`
  :host {
    --_radius: var(--accel-radius, 8px);
    --_gap: var(--accel-gap, 12px);
    --_font: var(--accel-font-family, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif);
    --_mono: var(--accel-mono-font-family, ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace);
    color-scheme: var(--accel-color-scheme, light dark);
    font-family: var(--_font);
    color: var(--_fg);
  }
  @supports (color: light-dark(#000, #fff)) {
    :host {
      ${tokens((light, dark) => `light-dark(${light}, ${dark})`)}
    }
  }
  @supports not (color: light-dark(#000, #fff)) {
    :host {
      ${tokens((light) => light)}
    }
    @media (prefers-color-scheme: dark) {
      :host {
        ${tokens((_, dark) => dark)}
      }
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
