import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.stack/**', 'docker-compose/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // The plugin runs inside Kuzzle on Node 12.18 and later (README,
    // Compatibility): no API that Node 12 lacks. tsc's ES2019 target
    // downlevels newer syntax, and tsconfig's lib leaves out newer built-ins.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['node:*'], message: 'Node 12 cannot require "node:" specifiers: use the bare module name.' }],
          paths: [
            { name: 'fs/promises', message: 'Node 14+: use require("fs").promises.' },
            { name: 'timers/promises', message: 'Node 15+.' },
            { name: 'stream/promises', message: 'Node 15+.' },
            { name: 'util/types', message: 'Node 15.3+: use require("util").types.' },
            { name: 'crypto', importNames: ['randomUUID'], message: 'Node 14.17+: use uuid.' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...['structuredClone', 'AbortController', 'AbortSignal', 'fetch', 'EventTarget', 'Event', 'BroadcastChannel', 'Blob', 'WeakRef', 'FinalizationRegistry', 'AggregateError', 'performance'].map(
          (name) => ({ name, message: `${name} is not a global of Node 12.18 (the plugin runs there too).` }),
        ),
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "Literal[value='base64url']", message: "Buffer's base64url encoding needs Node 14.18 / 15.7: encode to base64 and map + / = by hand." },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    // Fixture plugins are plain CommonJS, loaded by Kuzzle with require().
    files: ['test/functional/fixtures/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', setTimeout: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
