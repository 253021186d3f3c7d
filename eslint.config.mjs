import nx from '@nx/eslint-plugin';

/**
 * Module boundaries (tags live in each package.json under "nx.tags"):
 * - type:contract  (@sarai/proto)        depends on nothing of ours
 * - type:lib       (@sarai/signer)        may use contracts
 * - type:skill     (skill-draft/-image)   may use contracts and libs, never loop-core or another skill
 * - type:core      (@sarai/loop-core)     reaches skills only through @sarai/proto clients
 * - type:trainer   (@sarai/lora-trainer)  may use contracts and libs
 * - type:app       (apps/*)               may compose anything
 * - type:tool      (tools/*)              workspace tooling, may read anything
 * - type:testkit   (@sarai/testkit)       test helpers (testcontainers hardening); usable by every test
 */
export const depConstraints = [
  { sourceTag: 'type:contract', onlyDependOnLibsWithTags: ['type:testkit'] },
  { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:contract', 'type:lib', 'type:testkit'] },
  { sourceTag: 'type:skill', onlyDependOnLibsWithTags: ['type:contract', 'type:lib', 'type:testkit'] },
  { sourceTag: 'type:core', onlyDependOnLibsWithTags: ['type:contract', 'type:lib', 'type:testkit'] },
  { sourceTag: 'type:trainer', onlyDependOnLibsWithTags: ['type:contract', 'type:lib', 'type:testkit'] },
  { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['*'] },
  { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['*'] },
  { sourceTag: 'type:testkit', onlyDependOnLibsWithTags: ['type:contract', 'type:tool'] },
];

export default [
  { ignores: ['**/dist', '**/node_modules', '**/src/gen/**', '**/.nx', '**/*.timestamp*', '**/out-tsc'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.js', '**/*.jsx'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          allow: [],
          depConstraints,
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.json'],
    languageOptions: { parser: await import('jsonc-eslint-parser') },
    rules: {},
  },
];
