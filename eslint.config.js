// One linter for the repository (typescript-eslint's recommended rules), run by `npm test`.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Tests, the torture and the benchmark read the CLI's --json reports, whose shape is the
    // contract under test: parsed as Record<string, any> there, never in src/.
    files: ['test/**', 'torture/**', 'bench/**'],
    // Their timing variables are set before a try and read after it, which no-useless-assignment misreads.
    rules: { '@typescript-eslint/no-explicit-any': 'off', 'no-useless-assignment': 'off' },
  },
);
