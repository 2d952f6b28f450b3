// MJML compiles in a child process (src/templates/mjml-process.ts), not in the process that
// sends: MJML's ~50 MB come and go with the child, which ends after a few idle seconds; a
// compiler that dies (or runs over its time limit) fails the compiles it held and the next
// compile starts a new one.
import { afterAll, describe, expect, it } from 'vitest';
import { mjmlToHtml, setMjmlCompileTimeLimit } from '../src/templates/mjml-process.ts';
import { mjmlCompilerPids } from './helpers/processes.ts';

const DOCUMENT =
  '<mjml><mj-body><mj-section><mj-column><mj-text>Hello from the compiler</mj-text></mj-column></mj-section></mj-body></mjml>';

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((done) => setTimeout(done, 100));
  }
  return check();
}

afterAll(() => {
  for (const pid of mjmlCompilerPids()) process.kill(pid, 'SIGKILL');
});

describe('the MJML compiler process', () => {
  it('compiles in a child process, which ends once idle', async () => {
    const html = await mjmlToHtml(DOCUMENT);
    expect(html).toContain('Hello from the compiler');
    expect(html).toMatch(/^<!doctype html>/i);
    const [compiler, ...more] = mjmlCompilerPids();
    expect(compiler).toBeGreaterThan(0);
    expect(more).toEqual([]);
    // The same child serves the next compile while it is up.
    await expect(mjmlToHtml(DOCUMENT)).resolves.toContain('Hello from the compiler');
    expect(mjmlCompilerPids()).toEqual([compiler]);
    // Idle for 5 s, it exits.
    expect(await until(() => mjmlCompilerPids().length === 0, 10_000)).toBe(true);
  }, 20_000);

  it('answers invalid MJML with the validator’s message', async () => {
    await expect(mjmlToHtml('<mjml><mj-body><mj-nope/></mj-body></mjml>')).rejects.toThrow(
      /mj-nope/,
    );
  });

  it('a compiler killed mid-compile fails that compile; the next starts a new compiler', async () => {
    await mjmlToHtml(DOCUMENT);
    const [first] = mjmlCompilerPids();
    expect(first).toBeGreaterThan(0);
    // A document large enough that the compile is still running when the kill lands.
    const big = `<mjml><mj-body>${'<mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section>'.repeat(4_000)}</mj-body></mjml>`;
    const held = mjmlToHtml(big);
    process.kill(first!, 'SIGKILL');
    await expect(held).rejects.toThrow(/MJML compiler exited \(SIGKILL\)/);
    await expect(mjmlToHtml(DOCUMENT)).resolves.toContain('Hello from the compiler');
    const [second] = mjmlCompilerPids();
    expect(second).toBeGreaterThan(0);
    expect(second).not.toBe(first);
  }, 30_000);

  it('a compile over the time limit fails and its compiler is killed', async () => {
    await mjmlToHtml(DOCUMENT);
    const [first] = mjmlCompilerPids();
    const restore = setMjmlCompileTimeLimit(50);
    try {
      const big = `<mjml><mj-body>${'<mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section>'.repeat(4_000)}</mj-body></mjml>`;
      await expect(mjmlToHtml(big)).rejects.toThrow(/time limit \(50 ms\)/);
    } finally {
      restore();
    }
    expect(await until(() => !mjmlCompilerPids().includes(first!), 5_000)).toBe(true);
    await expect(mjmlToHtml(DOCUMENT)).resolves.toContain('Hello from the compiler');
  }, 30_000);
});
