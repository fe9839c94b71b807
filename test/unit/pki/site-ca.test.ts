import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { identityFor } from '../../../src/pki/identities.js';
import { createRequest, initSiteCa, SiteCa } from '../../../src/pki/site-ca.js';
import { x509 } from '../../../src/pki/x509.js';

async function freshCa() {
  const dir = join(mkdtempSync(join(tmpdir(), 'idg-pki-')), 'pki');
  const kek = randomBytes(32);
  await initSiteCa(dir, kek, { name: 'Test site CA' });
  return { dir, kek, ca: await SiteCa.open(dir, kek) };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe('the site CA', () => {
  it('is an ECDSA P-384 CA certificate that may sign certificates and CRLs only', async () => {
    const { ca } = await freshCa();
    const cert = new X509Certificate(ca.certificatePem);
    expect(cert.ca).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
    expect(Date.parse(cert.validTo) - Date.now()).toBeGreaterThan(9 * 365 * 86_400_000);
  });

  it('keeps its private key only sealed, in a file of mode 0600', async () => {
    const { dir } = await freshCa();
    const sealed = readFileSync(join(dir, 'ca.key.sealed'), 'utf8');
    expect(sealed).toMatch(/^v2\./);
    expect(statSync(join(dir, 'ca.key.sealed')).mode & 0o777).toBe(0o600);
    for (const file of filesUnder(dir)) expect(readFileSync(file, 'utf8')).not.toContain('PRIVATE KEY');
  });

  it('does not open with another key-encryption key', async () => {
    const { dir } = await freshCa();
    await expect(SiteCa.open(dir, randomBytes(32))).rejects.toMatchObject({ code: 'IDG_PKI_CA_KEY' });
  });

  it('never overwrites an existing CA', async () => {
    const { dir, kek } = await freshCa();
    await expect(initSiteCa(dir, kek, { name: 'again' })).rejects.toMatchObject({ code: 'IDG_PKI_EXISTS' });
  });
});

describe('issued certificates', () => {
  it('give a gateway an ECDSA P-256 client certificate with its CN, chained to the CA', async () => {
    const { ca } = await freshCa();
    const issued = await ca.issueWithNewKey(identityFor('gateway', 'berlin/gw-1'));
    const cert = new X509Certificate(issued.certPem);
    expect(cert.subject).toBe('CN=gateway:berlin:gw-1');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(cert.verify(new X509Certificate(ca.certificatePem).publicKey)).toBe(true);
    expect(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(issued.keyPem))).toBe(true);
  });

  it('give a dashboard server and client authentication and its host names and addresses', async () => {
    const { ca } = await freshCa();
    const issued = await ca.issueWithNewKey(identityFor('dashboard', 'central-1'), {
      sans: ['dash.example', '10.0.0.5'],
    });
    const cert = new X509Certificate(issued.certPem);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(cert.subjectAltName).toBe('DNS:dash.example, IP Address:10.0.0.5');
    expect(cert.checkHost('dash.example')).toBe('dash.example');
  });

  it('are recorded in the index with serial, CN, role and expiry', async () => {
    const { ca } = await freshCa();
    const issued = await ca.issueWithNewKey(identityFor('workstation', 'berlin/ws-1'));
    expect(ca.index.all()).toEqual([
      expect.objectContaining({
        serial: issued.entry.serial,
        cn: 'workstation:berlin:ws-1',
        role: 'workstation',
        status: 'valid',
      }),
    ]);
  });
});

describe('certificate requests', () => {
  it('certify a key made on the device without the key ever reaching the CA directory', async () => {
    const { ca, dir } = await freshCa();
    const request = await createRequest(identityFor('gateway', 'berlin/gw-2'));
    const issued = await ca.signRequest(request.csrPem, identityFor('gateway', 'berlin/gw-2'));
    const cert = new X509Certificate(issued.certPem);
    expect(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(request.keyPem))).toBe(true);
    expect(issued.entry.source).toBe('csr');
    const keyBody = request.keyPem.split('\n')[1] as string;
    for (const file of filesUnder(dir)) expect(readFileSync(file, 'utf8')).not.toContain(keyBody);
  });

  it('are refused when altered after signing', async () => {
    const { ca } = await freshCa();
    const request = await createRequest(identityFor('gateway', 'berlin/gw-3'));
    const csr = new x509.Pkcs10CertificateRequest(request.csrPem);
    const raw = Buffer.from(csr.rawData);
    const at = raw.indexOf(Buffer.from('gw-3'));
    raw.write('gw-4', at);
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${raw.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(ca.signRequest(tampered, identityFor('gateway', 'berlin/gw-4'))).rejects.toMatchObject({
      code: 'IDG_PKI_CSR',
    });
  });
});

describe('revocation', () => {
  it('lists a revoked certificate in the CRL, signed by the CA, under the label OpenSSL reads', async () => {
    const { ca, dir } = await freshCa();
    const issued = await ca.issueWithNewKey(identityFor('gateway', 'berlin/gw-1'));
    await ca.revoke('gateway:berlin:gw-1');
    const pem = readFileSync(join(dir, 'crl.pem'), 'utf8');
    expect(pem).toMatch(/^-----BEGIN X509 CRL-----/);
    const crl = new x509.X509Crl(pem.replace(/X509 CRL/g, 'CRL'));
    expect(crl.entries.map((e) => e.serialNumber.toLowerCase())).toEqual([issued.entry.serial]);
    expect(await crl.verify({ publicKey: ca.certificate.publicKey })).toBe(true);
    expect(ca.index.valid()).toEqual([]);
  });
});
