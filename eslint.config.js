// Lint rules that keep the package boundaries (docs/architecture.md) honest:
// nat-table is pure (no node: modules, no clock, no timers), igd-service
// imports nothing of ours, conformance reads only igd-service's declaration tables,
// production code never imports test support (the packages' testing/ folders),
// and the links never import the lab.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ownPackages = {
  group: ['@openigd/*', '../../nat-table/*', '../../gateway/*', '**/nat-table/**', '**/gateway/**'],
  message: 'igd-service imports nothing of ours: declare the backend interface it needs.',
};
const testSupport = {
  group: ['**/testing/*', '**/testing', '@openigd/*/testing'],
  message: 'test doubles (testing/) are for tests and benchmarks only.',
};
const lab = { group: ['**/lab/*'], message: 'the links do not depend on the lab; use ../exec.js.' };
// Fuzz properties (*.fuzz.ts) are test support too: only the suite and `npm run fuzz` load them.
const productionOnly = (...dirs) => ({ files: dirs.map((d) => `${d}/**/*.ts`), ignores: ['**/*.test.ts', '**/*.fuzz.ts', '**/testing/**'] });

const nodeBuiltins = [
  'node:*', 'fs', 'fs/*', 'net', 'dgram', 'http', 'https', 'os', 'path', 'child_process',
  'crypto', 'events', 'stream', 'stream/*', 'timers', 'timers/*', 'worker_threads', 'util',
  'buffer', 'process', 'url', 'dns', 'tls', 'zlib', 'cluster', 'module', 'perf_hooks',
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'gateway/build/**', '**/*.js', '!gateway/web/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // The admin page's script: plain JavaScript run by the browser, no modules.
    files: ['gateway/web/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(['document', 'sessionStorage', 'fetch', 'performance', 'URLSearchParams', 'Node', 'setTimeout', 'clearTimeout']
        .map((g) => [g, 'readonly'])),
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['nat-table/src/**/*.ts'],
    // Tests and fuzz properties (test support, never imported by the package's code) may use Node.
    ignores: ['nat-table/src/**/*.test.ts', 'nat-table/src/**/*.fuzz.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: nodeBuiltins, message: 'nat-table is pure: no Node.js modules (docs/architecture.md).' },
          { group: ['@openigd/*'], message: 'nat-table depends on nothing of ours.' },
        ],
      }],
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: 'nat-table has no timers: the caller passes nowMs.' },
        { name: 'setInterval', message: 'nat-table has no timers: the caller passes nowMs.' },
        { name: 'process', message: 'nat-table is pure.' },
        { name: 'Buffer', message: 'nat-table works on Uint8Array, not Buffer.' },
        { name: 'require', message: 'nat-table is pure.' },
      ],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'nat-table has no clock: take nowMs.' },
        { object: 'performance', property: 'now', message: 'nat-table has no clock: take nowMs.' },
      ],
    },
  },
  {
    files: ['igd-service/src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [ownPackages] }] },
  },
  {
    ...productionOnly('igd-service/src'),
    rules: { 'no-restricted-imports': ['error', { patterns: [ownPackages, testSupport] }] },
  },
  {
    ...productionOnly('gateway/src'),
    rules: { 'no-restricted-imports': ['error', { patterns: [testSupport] }] },
  },
  {
    ...productionOnly('gateway/src/link'),
    rules: { 'no-restricted-imports': ['error', { patterns: [testSupport, lab] }] },
  },
  {
    files: ['conformance/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: '@openigd/igd-service', message: 'conformance checks the server, so it may not run its logic: import only @openigd/igd-service/declaration (the spec tables).' }],
        patterns: [{
          group: ['@openigd/gateway', '@openigd/nat-table', '**/igd-service/src/**', '**/igd-service/dist/**', '**/gateway/**', '**/nat-table/**'],
          message: 'conformance imports only @openigd/igd-service/declaration of ours.',
        }],
      }],
    },
  },
  {
    // pino takes the fields first: log.warn('msg', { f }) type-checks (as printf arguments) but loses the fields.
    files: ['gateway/src/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', {
        selector: "CallExpression[callee.property.name=/^(trace|debug|info|warn|error|fatal)$/]:matches([callee.object.name=/^(log|logger)$/], [callee.object.property.name=/^(log|logger)$/])[arguments.length>1]:matches([arguments.0.type='Literal'], [arguments.0.type='TemplateLiteral'])",
        message: "pino's order is log.info({ fields }, 'message')",
      }],
    },
  },
);
