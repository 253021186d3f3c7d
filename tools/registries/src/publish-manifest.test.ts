import { describe, expect, it } from 'vitest';
import { publishManifest, workspaceConditionLeaks } from './publish-manifest.js';

const workspaceManifest = {
  name: '@sarai/x',
  version: '1.2.3',
  type: 'module',
  exports: {
    '.': { '@sarai/source': './src/index.ts', types: './dist/index.d.ts', import: './dist/index.js' },
    './sub': [{ '@sarai/source': './src/sub.ts', default: './dist/sub.js' }],
    './package.json': './package.json',
  },
  nx: { tags: ['type:lib'] },
  dependencies: { zod: '^4.0.0' },
  devDependencies: { '@sarai/testkit': '*' },
  files: ['dist'],
};

describe('publishManifest', () => {
  it('drops workspace-only conditions and workspace fields, keeps the rest', () => {
    expect(workspaceConditionLeaks(workspaceManifest)).toEqual([
      'exports["."]["@sarai/source"]',
      'exports["./sub"]["0"]["@sarai/source"]',
      'nx',
      'devDependencies',
    ]);
    const clean = publishManifest(workspaceManifest);
    expect(clean).toEqual({
      name: '@sarai/x',
      version: '1.2.3',
      type: 'module',
      exports: {
        '.': { types: './dist/index.d.ts', import: './dist/index.js' },
        './sub': [{ default: './dist/sub.js' }],
        './package.json': './package.json',
      },
      dependencies: { zod: '^4.0.0' },
      files: ['dist'],
    });
    expect(workspaceConditionLeaks(clean)).toEqual([]);
    // Conditions keep their order: `types` first, as TypeScript requires.
    expect(Object.keys((clean.exports as Record<string, object>)['.'] ?? {})).toEqual(['types', 'import']);
  });
});
