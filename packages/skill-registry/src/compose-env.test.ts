import { describe, expect, it } from 'vitest';
import {
  RegistryError,
  loadRegistry,
  localComposeEnv,
  localComposeLayout,
  publishEnv,
  renderComposeService,
} from './index.js';

const ports = { skills: { draft: 41001, image: 41002 }, host: 41003, prometheus: 41004 };

describe('localComposeEnv', () => {
  it('maps a root, a model and loopback ports to the compose file substitutions', () => {
    expect(localComposeEnv({ root: '/tmp/dep', modelPath: '/m/tiny.gguf', ports })).toEqual({
      SARAI_MODELS_DIR: '/m',
      SARAI_DRAFT_MODEL_FILE: 'tiny.gguf',
      SARAI_IMAGE_CACHE: '/tmp/dep/cache',
      SARAI_STATE_DIR: '/tmp/dep/state',
      SARAI_SANDBOX_SOCKET_DIR: '/tmp/dep/sandbox',
      SARAI_API_KEY_FILE: '/tmp/dep/api_key',
      SARAI_DRAFT_PUBLISH: '127.0.0.1:41001',
      SARAI_IMAGE_PUBLISH: '127.0.0.1:41002',
      SARAI_HOST_PUBLISH: '127.0.0.1:41003',
      SARAI_PROMETHEUS_PUBLISH: '127.0.0.1:41004',
    });
  });

  it('uses the layout paths, and the directories to hand to UID 1000 are state, cache and sandbox', () => {
    const layout = localComposeLayout('/r');
    const env = localComposeEnv({ root: '/r', modelPath: '/m/x.gguf', ports });
    expect([env.SARAI_STATE_DIR, env.SARAI_IMAGE_CACHE, env.SARAI_SANDBOX_SOCKET_DIR]).toEqual(
      layout.ownedDirs,
    );
    expect(env.SARAI_API_KEY_FILE).toBe(layout.apiKeyFile);
  });

  it('publishes on another address when asked, and a kebab-case skill gets its own variable', () => {
    const env = localComposeEnv({
      root: '/r',
      modelPath: '/m/x.gguf',
      ports: { skills: { 'speech-to-text': 7000 }, host: 8080, prometheus: 9090 },
      bindAddress: '0.0.0.0',
    });
    expect(env.SARAI_SPEECH_TO_TEXT_PUBLISH).toBe('0.0.0.0:7000');
    expect(env.SARAI_HOST_PUBLISH).toBe('0.0.0.0:8080');
    expect(env.SARAI_DRAFT_PUBLISH).toBeUndefined();
  });

  it('names the variable the generated compose service reads for every skill that publishes a port', () => {
    const publishing = loadRegistry({ userFile: false }).skills.filter(
      (s) => s.image && s.compose.publish && s.hardening.network !== 'none',
    );
    expect(publishing.map((s) => s.name)).toEqual(expect.arrayContaining(['draft', 'image']));
    for (const s of publishing) expect(renderComposeService(s)).toContain(`\${${publishEnv(s.name)}:-`);
  });

  it.each([
    [{ root: 'state', modelPath: '/m/x.gguf', ports }, /root "state" is relative.*absolute path/],
    [{ root: '/r', modelPath: 'models/x.gguf', ports }, /modelPath "models\/x.gguf" is relative/],
    [
      { root: '/r', modelPath: '/m/x.gguf', ports: { ...ports, host: 0 } },
      /ports.host is 0; give an integer port/,
    ],
    [
      { root: '/r', modelPath: '/m/x.gguf', ports: { ...ports, skills: { draft: 70000 } } },
      /ports.skills.draft is 70000/,
    ],
    [
      { root: '/r', modelPath: '/m/x.gguf', ports: { ...ports, skills: { Draft: 1 } } },
      /"Draft".*kebab-case/,
    ],
  ])('refuses %o with REGISTRY_BAD_COMPOSE_ENV and says what to fix', (options, message) => {
    let error: unknown;
    try {
      localComposeEnv(options);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({
      code: 'REGISTRY_BAD_COMPOSE_ENV',
      message: expect.stringMatching(message),
    });
  });
});
