import { PromptSigner, generateSigningKeyPair, SIGNER_ENV } from '@sarai/signer';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Io } from './io.js';

/**
 * The signing key for reflection prompts: `SARAI_SIGNING_KEY` / `SARAI_SIGNING_KEY_FILE` (+ passphrase, key id) when
 * set; else `<state>/keys/private.asc`, generated on first use as an unencrypted development key (said on stderr).
 */
export async function loadOrCreateSigner(
  stateDir: string,
  io: Io,
): Promise<{ signer: PromptSigner; publicKey: string }> {
  if (io.env[SIGNER_ENV.key] || io.env[SIGNER_ENV.keyFile]) {
    const signer = await PromptSigner.load({ env: io.env });
    return { signer, publicKey: signer.publicKeyArmored };
  }
  const dir = join(stateDir, 'keys');
  const priv = join(dir, 'private.asc');
  if (!existsSync(priv)) {
    const pair = await generateSigningKeyPair({ name: 'SARAi dev', email: 'sarai@localhost' });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(priv, pair.privateKeyArmored, { mode: 0o600 });
    await chmod(priv, 0o600);
    await writeFile(join(dir, 'public.asc'), pair.publicKeyArmored);
    io.stderr(
      `note: generated a development signing key (${pair.fingerprint}) in ${dir}; ` +
        `set ${SIGNER_ENV.keyFile} to sign with your own key\n`,
    );
  }
  const signer = await PromptSigner.fromKey(await readFile(priv, 'utf8'));
  return { signer, publicKey: signer.publicKeyArmored };
}
