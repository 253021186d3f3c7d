import nx from '@nx/eslint-plugin';

/**
 * Module boundaries (tags live in each package.json under "nx.tags"):
 * - type:contract  (@sarai/proto, @sarai/<skill>-contract)  gRPC contracts; a skill contract may use @sarai/proto
 * - type:lib       (signer, skill-runtime, skill-registry)  may use contracts and libs
 * - type:skill     (every packages/skill-*)  may use contracts and libs, never loop-core or another skill
 * - type:core      (@sarai/loop-core)     reaches skills only through contract clients, finds them in the registry
 * - type:trainer   (@sarai/lora-trainer)  may use contracts and libs
 * - type:app       (apps/*)               may compose anything
 * - type:tool      (tools/*, @sarai/skill-kit)  workspace tooling and generators, may read anything
 * - type:testkit   (@sarai/testkit)       test helpers (testcontainers hardening); usable by every test
 * - type:formats   (@sarai/formats)       shared file formats and primitives; usable by every tag, uses nothing of ours
 * New skills need no edit here: `nx g @sarai/skill-kit:skill` tags them (docs/adding-a-skill.md).
 */
export const depConstraints = [
  { sourceTag: 'type:contract', onlyDependOnLibsWithTags: ['type:contract', 'type:testkit', 'type:formats'] },
  {
    sourceTag: 'type:lib',
    onlyDependOnLibsWithTags: ['type:contract', 'type:lib', 'type:testkit', 'type:formats'],
  },
  {
    sourceTag: 'type:skill',
    onlyDependOnLibsWithTags: ['type:contract', 'type:lib', 'type:testkit', 'type:formats'],
  },
  {
    sourceTag: 'type:core',
    onlyDependOnLibsWithTags: ['type:contract', 'type:lib', 'type:testkit', 'type:formats'],
  },
  {
    sourceTag: 'type:trainer',
    onlyDependOnLibsWithTags: ['type:contract', 'type:lib', 'type:testkit', 'type:formats'],
  },
  { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['*'] },
  { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['*'] },
  { sourceTag: 'type:testkit', onlyDependOnLibsWithTags: ['type:contract', 'type:tool', 'type:formats'] },
  { sourceTag: 'type:formats', onlyDependOnLibsWithTags: [] },
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
