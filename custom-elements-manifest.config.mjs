// custom-elements.json feeds IDE completion, Storybook docs and framework typings.
export default {
  globs: ['components/**/*.ts', 'src/**/*.ts'],
  exclude: ['**/*.test.ts', '**/*.stories.ts', '**/*.styles.ts'],
  outdir: 'dist',
  litelement: true,
};
