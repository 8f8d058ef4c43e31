// A bounded load test of the playground's server, on 127.0.0.1: REQUESTS predictions (the
// page's own request: a test digit, every layer's maps) from CLIENTS clients at once, each
// sending its next request when its last one is answered. Prints the latency percentiles and
// the error count; exits 1 on any error, or if the 99th percentile is above MAX_P99_MS.
//
//   node scripts/load-playground.mjs [--requests 2000] [--clients 16] [--max-p99-ms N]
//
// It starts `convnets serve` as scripts/check-playground does, or uses PLAYGROUND_URL.

import http from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { startServer } from './playground-server.mjs';

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? Number(process.argv[i + 1]) : fallback;
}
const requests = option('requests', 2000);
const clients = option('clients', 16);
const maxP99 = option('max-p99-ms', Infinity);
const timeoutMs = 10_000;

const { url, stop } = await startServer();
const agent = new http.Agent({ keepAlive: true, maxSockets: clients });

/** One request: resolves to { status, body } or rejects on a network error or timeout. */
function send(method, path, body) {
  return new Promise((resolve, reject) => {
    const request = http.request(new URL(path, url), {
      method,
      agent,
      timeout: timeoutMs,
      headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
    }, (response) => {
      const chunks = [];
      response.on('data', (c) => chunks.push(c));
      response.on('end', () => resolve({ status: response.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}

let exitCode = 0;
try {
  // The page's request for a test digit (or, without MNIST, a drawn stroke).
  const digit = await send('GET', '/api/digit?index=0');
  const pixels = digit.status === 200
    ? JSON.parse(digit.body).pixels
    : Array.from({ length: 784 }, (_, i) => (Math.abs((i % 28) - 14) < 2 && i > 112 && i < 672 ? 1 : 0));
  const body = JSON.stringify({ pixels, preprocess: digit.status !== 200 });
  // One request first, not counted: the server builds the models it lends on first need.
  await send('POST', '/api/predict', body);

  const latencies = [];
  const errors = [];
  let next = 0;
  const started = performance.now();
  async function client() {
    while (next < requests) {
      next += 1;
      const t0 = performance.now();
      try {
        const r = await send('POST', '/api/predict', body);
        const ms = performance.now() - t0;
        if (r.status !== 200) throw new Error(`status ${r.status}: ${r.body.slice(0, 200)}`);
        const answer = JSON.parse(r.body);
        if (answer.probabilities?.length !== 10 || answer.layers?.length !== 8) throw new Error('an incomplete answer');
        latencies.push(ms);
      } catch (error) {
        errors.push(error.message);
      }
    }
  }
  await Promise.all(Array.from({ length: clients }, client));
  const seconds = (performance.now() - started) / 1000;

  latencies.sort((a, b) => a - b);
  const at = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : NaN);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`${requests} POST /api/predict (a test digit, every layer's maps) from ${clients} clients at once, ${url}`);
  console.log(`${cpu}, ${os.cpus().length} logical CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`p50 ${at(0.5).toFixed(1)} ms   p90 ${at(0.9).toFixed(1)} ms   p99 ${at(0.99).toFixed(1)} ms   max ${at(1).toFixed(1)} ms`);
  console.log(`${(latencies.length / seconds).toFixed(0)} answers/s over ${seconds.toFixed(1)} s; errors: ${errors.length}`);
  if (errors.length) {
    console.error(`errors (first 5): ${[...new Set(errors)].slice(0, 5).join(' | ')}`);
    exitCode = 1;
  }
  if (at(0.99) > maxP99) {
    console.error(`p99 ${at(0.99).toFixed(1)} ms is above the limit of ${maxP99} ms`);
    exitCode = 1;
  }
} catch (error) {
  console.error(error);
  exitCode = 1;
} finally {
  agent.destroy();
  await stop();
}
process.exit(exitCode);
