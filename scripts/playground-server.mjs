// Starts `convnets serve` for the playground's checks (scripts/check-playground and
// scripts/load-playground), or uses the one at PLAYGROUND_URL.
//
// The server runs in target/playground/, so the model it trains when it has none lands in
// target/playground/models/book.bin (git-ignored), not in the developer's models/: one quick
// epoch on the first 10,000 training images (a few seconds, about 94% test accuracy), trained
// on the first run and reused after.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const workDir = path.join(repoRoot, 'target', 'playground');

/**
 * Resolves to `{ url, stop }` once the server listens. `stop()` ends the server this started
 * (and does nothing for one given by PLAYGROUND_URL).
 */
export async function startServer({ timeoutMs = 600_000 } = {}) {
  if (process.env.PLAYGROUND_URL) {
    return { url: process.env.PLAYGROUND_URL.replace(/\/?$/, '/'), stop: async () => {} };
  }
  const binary = process.env.CONVNETS ?? path.join(repoRoot, 'target', 'release', 'convnets');
  if (!fs.existsSync(binary)) {
    throw new Error(`no ${binary}: build it first (cargo build --release), or set CONVNETS or PLAYGROUND_URL`);
  }
  fs.mkdirSync(workDir, { recursive: true });
  const args = ['serve', '--port', '0', '--epochs', '1', '--limit', '10000', '--data', path.join(repoRoot, 'data', 'mnist')];
  const server = spawn(binary, args, { cwd: workDir, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => server.once('exit', (code, signal) => resolve({ code, signal })));

  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start within ${timeoutMs / 1000} s`)), timeoutMs);
    let pending = '';
    server.stdout.setEncoding('utf8');
    server.stdout.on('data', (chunk) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) {
        console.log(`  [serve] ${line}`);
        const found = line.match(/http:\/\/127\.0\.0\.1:\d+\//);
        if (found) {
          clearTimeout(timer);
          resolve(found[0]);
        }
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`convnets serve stopped before listening (exit ${code ?? signal})`));
    });
  });

  const stop = async () => {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
    await exited;
  };
  return { url, stop };
}
