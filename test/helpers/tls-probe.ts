import { spawn, spawnSync } from 'node:child_process';

export const SSLSCAN_AVAILABLE = spawnSync('sslscan', ['--version']).status === 0;

/** Runs a command to its end without blocking the event loop (the server under test may live here). */
function run(command: string, args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stdin.end();
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} took longer than ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', () => {
      clearTimeout(timer);
      resolve(output);
    });
  });
}

export interface Handshake {
  accepted: boolean;
  protocol?: string;
  cipher?: string;
  /** The key exchange group the server chose, e.g. "secp384r1". */
  group?: string;
  output: string;
}

/** `openssl s_client` against 127.0.0.1:port with extra arguments (-tls1_2, -cipher …, -groups …). */
export async function sClient(port: number, args: string[]): Promise<Handshake> {
  const output = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args]);
  const done = /^New, (TLSv1(?:\.\d)?), Cipher is (\S+)/m.exec(output);
  const accepted = done !== null && done[2] !== '(NONE)';
  const group = /^Server Temp Key: (?:ECDH, )?([^,]+),/m.exec(output)?.[1];
  return {
    accepted,
    ...(accepted ? { protocol: done?.[1], cipher: done?.[2] } : {}),
    ...(group ? { group } : {}),
    output,
  };
}

export interface ScanReport {
  protocols: Record<string, 'enabled' | 'disabled'>;
  ciphers: Array<{ protocol: string; cipher: string }>;
  groups: Array<{ protocol: string; group: string }>;
  output: string;
}

/** `sslscan` (Debian's) against 127.0.0.1:port, parsed. */
export async function sslscan(port: number, clientCert?: { cert: string; key: string }): Promise<ScanReport> {
  const output = await run(
    'sslscan',
    [
      '--no-colour',
      ...(clientCert ? [`--certs=${clientCert.cert}`, `--pk=${clientCert.key}`] : []),
      `127.0.0.1:${port}`,
    ],
    120_000,
  );
  const protocols: ScanReport['protocols'] = {};
  for (const m of output.matchAll(/^(SSLv2|SSLv3|TLSv1\.[0-3])\s+(enabled|disabled)$/gm)) {
    protocols[m[1] as string] = m[2] as 'enabled' | 'disabled';
  }
  const ciphers = [...output.matchAll(/^(?:Preferred|Accepted)\s+(\S+)\s+\d+ bits\s+(\S+)/gm)].map((m) => ({
    protocol: m[1] as string,
    cipher: m[2] as string,
  }));
  const groupSection = /Server Key Exchange Group\(s\):\n([\s\S]*?)\n\s*\n/.exec(output)?.[1] ?? '';
  const groups = [...groupSection.matchAll(/^(TLSv1\.\d)\s+\d+ bits\s+(\S+)/gm)].map((m) => ({
    protocol: m[1] as string,
    group: m[2] as string,
  }));
  return { protocols, ciphers, groups, output };
}
