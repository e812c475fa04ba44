// ESLint with typescript-eslint's type-checked rules over the sources and the tests (their types
// come from tsconfig.test.json, which includes both); the plain JavaScript of bin/, scripts/ and
// bench/ gets the untyped recommended rules. Formatting is Prettier's, not ESLint's.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['dist/', 'build/', 'build-*/', 'node_modules/', 'bench/peers/node_modules/', 'reports/', '.stryker-tmp/'],
  },
  {
    files: ['**/*.{js,mjs,cjs}'],
    extends: [js.configs.recommended],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    files: ['examples/browser/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['**/*.ts', '**/*.mts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      // A backend's method is async because the interface is (the ts backend computes in place, the
      // native one awaits its worker); an async function without an await is no bug here.
      '@typescript-eslint/require-await': 'off',
      // An argument or binding named _ is unused on purpose (a callback's position, a tuple's slot).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // vitest's asymmetric matchers (expect.any, expect.stringMatching, …) are typed any.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off', '@typescript-eslint/no-unsafe-argument': 'off' },
  },
  {
    files: ['**/*.d.mts'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
