// SkillPool driven by the skill registry: addresses, roles, deadlines and breaker settings come from entries.
import { createRegistry, parseSkillEntry } from '@sarai/skill-registry';
import { describe, expect, it } from 'vitest';
import { LoopError } from './errors.js';
import { SkillPool } from './skill-pool.js';
import { startFakeSkill } from './test-support/fake-skills.js';

const entry = (over: Record<string, unknown>) =>
  parseSkillEntry(
    { kind: 'generate', contract: { package: '@sarai/proto', service: 'skills.Skill' }, ...over },
    'test',
  );

describe('SkillPool from the registry', () => {
  it('resolves roles, deadlines and default addresses from entries; env and options override the address', () => {
    const registry = createRegistry([
      entry({ name: 'writer', roles: ['draft'], deadlineMs: 1234, address: 'writer.lan:7000' }),
      entry({ name: 'speech-to-text', port: 50060 }),
    ]);
    const pool = new SkillPool({
      registry,
      env: { SARAI_SKILL_SPEECH_TO_TEXT_ADDR: '10.0.0.2:1' },
      watchHealth: false,
    });
    try {
      expect(pool.nameFor('draft')).toBe('writer');
      expect(pool.deadlineOf('writer')).toBe(1234);
      expect(pool.addressOf('writer')).toBe('writer.lan:7000');
      expect(pool.addressOf('speech-to-text')).toBe('10.0.0.2:1');
      expect(new SkillPool({ registry, env: {} }).addressOf('speech-to-text')).toBe(
        'skill-speech-to-text:50060',
      );
      expect(() => pool.nameFor('image')).toThrow(/no registered skill has the role "image"/);
      expect(() => pool.addressOf('ocr')).toThrow(LoopError);
      expect(() => pool.addressOf('ocr')).toThrow(/SARAI_SKILL_OCR_ADDR=host:port/);
    } finally {
      pool.close();
    }
  });

  it('reaches a registered skill over gRPC by role and sees it SERVING', async () => {
    const skill = await startFakeSkill({ draft: () => ({ text: 'hello' }) });
    const registry = createRegistry([entry({ name: 'writer', roles: ['draft'], address: skill.address })]);
    const pool = new SkillPool({ registry, env: {} });
    try {
      const h = pool.forRole('draft');
      for (let i = 0; i < 50 && h.health !== 'SERVING'; i++) await new Promise((r) => setTimeout(r, 20));
      expect(h.health).toBe('SERVING');
      const reply = await h.call(
        (s, opts) =>
          s.generate(
            {
              prompt: 'hi',
              maxTokens: 4,
              stop: [],
              temperature: 0,
              grammar: '',
              adapter: '',
              logprobs: false,
            },
            opts,
          ).response,
        pool.deadlineOf('writer'),
      );
      expect(reply.text).toBe('hello');
    } finally {
      pool.close();
      await skill.stop();
    }
  });
});
