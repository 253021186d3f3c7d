#!/usr/bin/env node
import { runCli } from './cli-run.js';
import { SignerError } from './signer-error.js';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY)
    throw new SignerError('SIGNER_USAGE', 'no input: pass --in FILE or pipe the prompt on stdin');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readStdin,
  env: process.env,
});
