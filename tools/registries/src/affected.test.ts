import { describe, expect, it } from 'vitest';
import { affectedProjects, projectDependencies, projectsWithTarget, withConsumers } from './affected.js';

// What CI selects for a change to one skill (docs/ci-affected.md): `nx affected` on the files changed since the
// merge base. Here the changed files are given directly (`--files`), so the result does not depend on git state.
describe('CI on affected builds', () => {
  it('a change to one skill selects that skill, its consumers and their images, never another skill', async () => {
    const files = ['packages/skill-image/src/index.ts'];
    const [affected, withImage, deps, imageProjects] = await Promise.all([
      affectedProjects({ files }),
      affectedProjects({ files, withTarget: 'image' }),
      projectDependencies(),
      projectsWithTarget('image'),
    ]);
    const expected = withConsumers(deps, '@sarai/skill-image');
    console.log(
      `affected by ${files[0]}: ${affected.join(', ')}; images to build/push: ${withImage.join(', ')}`,
    );
    expect(affected).toEqual(expected);
    expect(affected).toContain('@sarai/skill-image');
    // Another skill, the contract and the libraries under the skill are not rebuilt.
    for (const untouched of ['@sarai/skill-draft', '@sarai/proto', '@sarai/skill-runtime'])
      expect(affected).not.toContain(untouched);
    // Images: the changed skill's and those of consumers that bundle it (e.g. the CLI/host image, whose embedded
    // mode imports the skill); never another skill's.
    expect(withImage).toContain('@sarai/skill-image');
    expect(withImage).toEqual(affected.filter((p) => imageProjects.includes(p)));
    expect(imageProjects).toContain('@sarai/skill-draft');
    expect(withImage).not.toContain('@sarai/skill-draft');
  });

  it('a change to the contract selects every skill image', async () => {
    const withImage = await affectedProjects({
      files: ['packages/proto/proto/skills.proto'],
      withTarget: 'image',
    });
    expect(withImage).toEqual(expect.arrayContaining(['@sarai/skill-draft', '@sarai/skill-image']));
  });

  it('withConsumers follows dependencies transitively', () => {
    const deps = new Map([
      ['a', []],
      ['b', ['a']],
      ['c', ['b']],
      ['d', []],
    ]);
    expect(withConsumers(deps, 'a')).toEqual(['a', 'b', 'c']);
    expect(withConsumers(deps, 'd')).toEqual(['d']);
  });
});
