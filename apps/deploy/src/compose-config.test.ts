import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const file = fileURLToPath(new URL('../docker-compose.yml', import.meta.url));

/** Service blocks of `docker-compose config` output (the resolved file, as compose itself reads it). */
function services(yaml: string): Record<string, string> {
  const body = yaml.split(/^services:\n/m)[1]?.split(/^\S/m)[0] ?? '';
  const out: Record<string, string> = {};
  for (const block of body.split(/^(?= {2}\S)/m)) {
    const name = /^ {2}([\w-]+):/.exec(block)?.[1];
    if (name) out[name] = block;
  }
  return out;
}

describe('compose file', () => {
  it('is valid for docker-compose and every service is hardened; the trainer has no network', async () => {
    const { stdout } = await run('docker-compose', ['-f', file, '--profile', 'nightly', 'config']);
    const s = services(stdout);
    expect(Object.keys(s)).toEqual(
      expect.arrayContaining(['lora-trainer', 'prometheus', 'sarai', 'skill-draft', 'skill-image']),
    );
    for (const [name, block] of Object.entries(s)) {
      expect(block, name).toMatch(/read_only: true/);
      expect(block, name).toMatch(/cap_drop:\n\s+- ALL/);
      expect(block, name).toMatch(/no-new-privileges:true/);
      // Prometheus runs as nobody (its image's user); everything else as the app user
      expect(block, name).toMatch(name === 'prometheus' ? /user: 65534:65534/ : /user: 1000:1000/);
      expect(block, name).toMatch(/tmpfs:\n(\s+- \S+\n)*\s+- \/tmp:size=\d+m,mode=1777/);
      expect(block, name).toMatch(/pids_limit: \d+/);
      expect(block, name).toMatch(/mem_limit: \d+[mg]/);
    }
    expect(s['skill-draft']).toMatch(/cpus: 2(\.0)?\n[\s\S]*mem_limit: 800m|mem_limit: 800m[\s\S]*cpus: 2/);
    expect(s['skill-image']).toMatch(/mem_limit: 512m/);
    expect(s['lora-trainer']).toMatch(/network_mode: none/);
    expect(s['lora-trainer']).toMatch(/mem_limit: 4g/);
    expect(s['skill-draft']).toMatch(/\/models:ro/);
  });

  it('starts the host after healthy skills, with an API key and loopback-only ports by default; Prometheus reads its config read-only', async () => {
    const { stdout } = await run('docker-compose', ['-f', file, 'config']);
    const s = services(stdout);
    expect(s['sarai']).toMatch(
      /depends_on:\n\s+skill-draft:\n\s+condition: service_healthy\n\s+skill-image:\n\s+condition: service_healthy/,
    );
    expect(s['sarai']).toMatch(/:\/run\/secrets\/sarai_api_key:ro/);
    expect(s['sarai']).toMatch(/host_ip: 127\.0\.0\.1|127\.0\.0\.1:8080:8080/);
    expect(s['prometheus']).toMatch(/\/etc\/prometheus:ro/);
    expect(s['prometheus']).toMatch(/127\.0\.0\.1:9090:9090|host_ip: 127\.0\.0\.1/);
    expect(s['prometheus']).toMatch(/\/bin\/promtool/);
  });
});
