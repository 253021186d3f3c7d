// Nx plugin (registered in nx.json): gives every npm-publishable package a `stage-publish` target that writes what
// `nx release publish` publishes into dist/publish/<projectRoot>: the files `npm pack` would ship plus a clean
// package.json (no workspace-only `@sarai/source` export condition, no `nx`/`devDependencies`). nx.json points
// `nx-release-publish` at that directory (`packageRoot`) and makes it depend on this target.
// CommonJS on purpose: Nx loads local plugins with require() before anything is built.
'use strict';
const { existsSync } = require('node:fs');
const { dirname, join } = require('node:path');

/** @type {import('nx/src/project-graph/plugins/public-api').CreateNodes} */
const createNodes = [
  '{packages,apps}/*/package.json',
  (files, _options, context) =>
    files.flatMap((file) => {
      const root = dirname(file);
      return [
        [
          file,
          {
            projects: {
              [root]: {
                targets: {
                  'stage-publish': {
                    command: `node tools/registries/dist/stage-publish-cli.js ${root}`,
                    // `build` exists where @nx/js/typescript infers it (a tsconfig.lib.json).
                    dependsOn: existsSync(join(context.workspaceRoot, root, 'tsconfig.lib.json'))
                      ? ['build', '@sarai/registries:build']
                      : ['@sarai/registries:build'],
                    cache: false,
                    metadata: { description: 'Stage the npm package with a clean manifest in dist/publish/' },
                  },
                },
              },
            },
          },
        ],
      ];
    }),
];

module.exports = { createNodes, createNodesV2: createNodes };
