// ESLint (flat config) with typescript-eslint's type-aware rules for what type checking alone misses:
// promises nobody awaits or handles, promises passed where a callback's result is ignored, and switches
// that forget a case. Formatting is Prettier's (`npm run format`), so no stylistic rules here.
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'data/', 'test-output/', 'bench/results/', 'src/http/widget/', 'test/fixtures/'] },
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Frozen migrations take Kysely<any> (they must not depend on today's schema types); the emulator and the
    // tests read JSON from the wire and from exports, where `any` is the honest type.
    files: ['migrations/**', 'test/**', 'emulator/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  { files: ['**/*.js', '**/*.mjs', '**/*.cjs'], ...tseslint.configs.disableTypeChecked },
  prettier,
);
