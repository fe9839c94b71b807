import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CHILD = fileURLToPath(new URL('../helpers/unhandled-rejection-child.ts', import.meta.url));

/** Runs the child to its end: its exit code, the lines it printed and its stderr. */
function run(env: Record<string, string>): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], { env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) =>
    child.once('close', (code) => resolve({ code, lines: stdout.split('\n').filter(Boolean), stderr })),
  );
}

const payloads = (lines: string[], prefix: string) =>
  lines.filter((l) => l.startsWith(prefix)).map((l) => JSON.parse(l.slice(prefix.length)));

describe('a promise rejection no code handles, in the gateway process', () => {
  it('ends the process when nothing handles it (Node 20)', async () => {
    const { code, lines, stderr } = await run({ IDG_INSTALL_HANDLER: 'no' });
    expect(code).toBe(1);
    expect(lines).not.toContain('alive');
    expect(stderr).toContain('Error: a chunk publish nobody awaited');
  });

  it('is logged at error and raised once as a critical internal-error alarm; the process lives on', async () => {
    const { code, lines } = await run({});
    expect(code).toBe(0);
    expect(lines).toContain('alive');
    const logged = payloads(lines, 'log ').filter((l) => l.level === 'error');
    expect(logged.map((l) => l.err.message)).toEqual(['a chunk publish nobody awaited', 'another one']);
    expect(payloads(lines, 'event ')).toEqual([
      {
        kind: 'alarm.raised',
        data: {
          alarm: 'internal-error',
          key: 'unhandled-rejection',
          severity: 'critical',
          detail: expect.stringContaining('a chunk publish nobody awaited'),
        },
      },
    ]);
  });
});
