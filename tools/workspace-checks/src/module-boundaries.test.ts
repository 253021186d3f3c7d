import { ESLint } from 'eslint';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Lints virtual files placed inside real projects with the workspace's own ESLint config, so the
// @nx/enforce-module-boundaries rule runs against the real project graph and tags.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const eslint = new ESLint({ cwd: root });

async function boundaryErrors(fileInProject: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: `${root}${fileInProject}` });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === '@nx/enforce-module-boundaries')
    .map((m) => m.message);
}

const has = (dir: string) => existsSync(`${root}${dir}/package.json`);

describe('module boundaries (lint)', () => {
  it('a contract may not depend on a library', async () => {
    // @sarai/skill-registry is a lib that imports nothing of ours, so the tag rule (not a cycle) is what fires.
    const errors = await boundaryErrors(
      'packages/proto/src/forbidden.ts',
      "import * as registry from '@sarai/skill-registry';\nexport const r = registry;\n",
    );
    expect(errors.join('\n')).toMatch(/type:contract.*can only depend on libs tagged with.*type:testkit/s);
  });

  it('a library may use the contract', async () => {
    expect(
      await boundaryErrors(
        'packages/skill-runtime/src/allowed.ts',
        "import { connectSkill } from '@sarai/proto';\nexport const c = connectSkill;\n",
      ),
    ).toEqual([]);
  });

  it.runIf(has('packages/skill-draft') && has('packages/loop-core'))(
    'a skill may never import loop-core',
    async () => {
      const errors = await boundaryErrors(
        'packages/skill-draft/src/forbidden.ts',
        "import * as loop from '@sarai/loop-core';\nexport const l = loop;\n",
      );
      expect(errors.join('\n')).toMatch(/type:skill.*can only depend on libs tagged with/s);
    },
  );

  it.runIf(has('packages/skill-draft') && has('packages/skill-image'))(
    'a skill may not import another skill',
    async () => {
      const errors = await boundaryErrors(
        'packages/skill-image/src/forbidden.ts',
        "import * as d from '@sarai/skill-draft';\nexport const x = d;\n",
      );
      expect(errors.join('\n')).toMatch(/type:skill.*can only depend on libs tagged with/s);
    },
  );

  it.runIf(has('packages/loop-core') && has('packages/skill-image'))(
    'loop-core reaches skills only through @sarai/proto',
    async () => {
      const errors = await boundaryErrors(
        'packages/loop-core/src/forbidden.ts',
        "import * as i from '@sarai/skill-image';\nexport const x = i;\n",
      );
      expect(errors.join('\n')).toMatch(/type:core.*can only depend on libs tagged with/s);
      expect(
        await boundaryErrors(
          'packages/loop-core/src/allowed.ts',
          "import { connectSkill } from '@sarai/proto';\nexport const c = connectSkill;\n",
        ),
      ).toEqual([]);
    },
  );
});
