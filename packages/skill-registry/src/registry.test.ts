import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  COMPOSE_MARKER,
  RegistryError,
  addressEnv,
  defaultAddress,
  loadRegistry,
  nativeAddonDirs,
  parseSkillEntry,
  renderComposeFile,
} from './index.js';

const dirs: string[] = [];
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), 'skill-registry-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const minimal = {
  name: 'ocr',
  kind: 'service',
  contract: { package: '@x/ocr-contract', service: 'sarai.ocr.v1.Ocr' },
};

describe('loadRegistry', () => {
  it('reads the shipped entries with defaults applied; draft and image serve the core contract', () => {
    const r = loadRegistry({ userFile: false });
    expect(r.names()).toEqual(expect.arrayContaining(['draft', 'image']));
    const draft = r.get('draft');
    expect(draft).toMatchObject({ kind: 'generate', package: '@sarai/skill-draft', deadlineMs: 10_000 });
    expect(draft.contract).toEqual({ package: '@sarai/proto', service: 'skills.Skill' });
    expect(r.byRole('image')?.name).toBe('image');
    expect(defaultAddress(draft)).toBe('skill-draft:50051');
    expect(addressEnv('speech-to-text')).toBe('SARAI_SKILL_SPEECH_TO_TEXT_ADDR');
    expect(nativeAddonDirs(r.skills)).toEqual(
      expect.arrayContaining(['@img/sharp-linux-x64/lib', '@node-llama-cpp/linux-x64/bins/linux-x64']),
    );
  });

  it('merges a user file: overrides fields of known skills and adds remote-only skills by config', () => {
    const file = join(scratch(), 'skills.json');
    writeFileSync(
      file,
      JSON.stringify({
        skills: [
          { name: 'draft', address: 'gpu-box:50051', breaker: { resetTimeoutMs: 1000 } },
          { ...minimal, address: 'ocr.lan:7000' },
        ],
      }),
    );
    const r = loadRegistry({ env: { SARAI_SKILLS_FILE: file } });
    expect(defaultAddress(r.get('draft'))).toBe('gpu-box:50051');
    expect(r.get('draft').breaker).toMatchObject({ resetTimeoutMs: 1000, errorThresholdPercentage: 50 });
    expect(r.get('draft').resources.memory).toBe('800m');
    expect(defaultAddress(r.get('ocr'))).toBe('ocr.lan:7000');
    expect(r.get('ocr').deadlineMs).toBe(5_000);
  });

  it('says which file and field are wrong, and which names exist', () => {
    const dir = scratch();
    writeFileSync(
      join(dir, 'ocr.json'),
      JSON.stringify({ ...minimal, port: 70000, resources: { memory: 'lots' } }),
    );
    expect(() => loadRegistry({ dir, userFile: false })).toThrow(
      /ocr\.json: port: .*; resources\.memory: memory is a docker size/,
    );
    writeFileSync(join(dir, 'ocr.json'), JSON.stringify({ ...minimal, name: 'other' }));
    expect(() => loadRegistry({ dir, userFile: false })).toThrow(/"name" must equal the file name \("ocr"\)/);
    writeFileSync(join(dir, 'ocr.json'), JSON.stringify(minimal));
    const r = loadRegistry({ dir, userFile: false });
    expect(() => r.get('nope')).toThrow(/no skill "nope" in the registry \(known: ocr\)/);
    try {
      r.get('nope');
    } catch (e) {
      expect((e as RegistryError).code).toBe('REGISTRY_UNKNOWN_SKILL');
    }
    expect(() => loadRegistry({ dir, env: { SARAI_SKILLS_FILE: join(dir, 'missing.json') } })).toThrow(
      /SARAI_SKILLS_FILE=.*missing\.json: no such file/,
    );
  });
});

describe('renderComposeFile', () => {
  const template = `services:\n${COMPOSE_MARKER}\n  other:\n    image: x\n`;

  it('renders a hardened service per skill; network "none" gets no network and no port', () => {
    const sandbox = parseSkillEntry(
      {
        ...minimal,
        name: 'sandbox',
        image: 'sarai/skill-sandbox',
        hardening: { network: 'none', tmpfsSize: '64m' },
        resources: { cpus: 1, memory: '256m', pids: 64 },
        compose: { publish: '127.0.0.1:50054' },
      },
      'test',
    );
    const out = renderComposeFile(template, [sandbox]);
    expect(out).toContain(
      '  skill-sandbox:\n    <<: *hardening\n    image: ${SARAI_IMAGE_PREFIX:-}${SARAI_SKILL_SANDBOX_IMAGE:-sarai/skill-sandbox:latest}',
    );
    expect(out).toContain('    network_mode: none');
    expect(out).not.toContain('ports:');
    expect(out).toContain('/tmp:size=64m,mode=1777');
    expect(out).toMatch(/pids_limit: 64\n\n {2}other:/);
    expect(() => renderComposeFile('services:\n', [sandbox])).toThrow(RegistryError);
  });
});
