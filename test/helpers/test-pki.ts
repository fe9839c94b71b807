import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPki } from '../../src/cli/pki-command.js';
import { fileStem, identityFor, type Role } from '../../src/pki/identities.js';

/** A site CA made with the real `identgate pki` commands in a temporary directory. */
export interface TestPki {
  dir: string;
  caCert: string;
  /** Runs `identgate pki <args>` against this CA. */
  pki(...args: string[]): Promise<string[]>;
  /** `identgate pki issue`, returning the TLS settings that use the issued files. */
  issue(role: Role, name: string, sans?: string[]): Promise<IssuedFiles>;
}

/** The files `pki issue` wrote, in the shape of `http.tls` and `mqtt.tls`. */
export interface IssuedFiles {
  ca: string;
  cert: string;
  key: { file: string };
}

export async function createTestPki(): Promise<TestPki> {
  const root = mkdtempSync(join(tmpdir(), 'idg-test-pki-'));
  const dir = join(root, 'pki');
  const kek = join(root, 'ca-kek');
  const pki = (...args: string[]) => runPki([...args, '--dir', dir, '--ca-key-file', kek], {});
  await pki('init', '--name', 'identgate test CA');
  const caCert = join(dir, 'ca.crt');
  return {
    dir,
    caCert,
    pki,
    issue: async (role, name, sans = []) => {
      await pki('issue', role, name, ...(sans.length > 0 ? ['--san', sans.join(',')] : []));
      const stem = join(dir, 'issued', fileStem(identityFor(role, name)));
      return { ca: caCert, cert: `${stem}.crt`, key: { file: `${stem}.key` } };
    },
  };
}
