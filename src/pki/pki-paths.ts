import { join } from 'node:path';

/**
 * The site CA: an ECDSA P-384 key and self-signed certificate in a directory of its own.
 *
 *   ca.crt            the CA certificate: every gateway, workstation, dashboard and broker trusts it
 *   ca.key.sealed     the CA's PKCS#8 key, AES-256-GCM under the key-encryption key (never plain)
 *   index.json        every certificate issued: serial, CN, role, validity, status
 *   crl.pem           the revocation list Mosquitto reads (`crlfile`), re-signed on every revoke
 *   issued/<role>/…   certificates issued here, and keys made here (mode 0600) by `pki issue`
 */
export interface PkiPaths {
  dir: string;
  caCert: string;
  caKey: string;
  index: string;
  crl: string;
  issued: string;
}

export function pkiPaths(dir: string): PkiPaths {
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key.sealed'),
    index: join(dir, 'index.json'),
    crl: join(dir, 'crl.pem'),
    issued: join(dir, 'issued'),
  };
}
