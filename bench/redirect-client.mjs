// Load generator for the redirect bench, in its own process so it does not share the
// server's event loop: GETs the given URLs (round-robin) with keep-alive connections,
// `concurrency` in flight, and prints one JSON line {ok, other, elapsedMs}.
// Usage: node redirect-client.mjs URLS.json TOTAL CONCURRENCY

import { readFileSync } from 'node:fs';
import http from 'node:http';

const [file, totalArg, concurrencyArg] = process.argv.slice(2);
const urls = JSON.parse(readFileSync(file, 'utf8'));
const total = Number(totalArg);
const concurrency = Number(concurrencyArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
let sent = 0;
let ok = 0;
let other = 0;
const started = performance.now();

function one() {
  return new Promise((resolve) => {
    const url = urls[sent % urls.length];
    sent += 1;
    const request = http.get(url, { agent }, (response) => {
      if (response.statusCode === 302) ok += 1;
      else other += 1;
      response.resume();
      response.on('end', resolve);
    });
    request.on('error', () => {
      other += 1;
      resolve();
    });
  });
}

async function lane() {
  while (sent < total) await one();
}

await Promise.all(Array.from({ length: concurrency }, lane));
process.stdout.write(`${JSON.stringify({ ok, other, elapsedMs: performance.now() - started })}\n`);
agent.destroy();
