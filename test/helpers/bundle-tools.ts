import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Exit code and output of a real tool (sha256sum, openssl), whether it succeeds or not. */
export async function tool(
  file: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd });
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

/** The auditor's documented check of an export bundle's files (docs/audit.md). */
export const sha256sumCheck = (dir: string) => tool('sha256sum', ['-c', 'SHA256SUMS'], dir);

/** The documented signature check of a file (manifest.json, SHA256SUMS) against its .sig. */
export const opensslVerify = (dir: string, file = 'manifest.json', sig = 'manifest.sig') =>
  tool(
    'openssl',
    ['pkeyutl', '-verify', '-pubin', '-inkey', 'public-key.pem', '-rawin', '-in', file, '-sigfile', sig],
    dir,
  );

export const opensslVerifySums = (dir: string) => opensslVerify(dir, 'SHA256SUMS', 'SHA256SUMS.sig');
