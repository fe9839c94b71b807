import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { mqttTlsOptions } from '../../../src/config/tls-material.js';
import {
  assertAcceptableMaterial,
  assertListenerSecure,
  isLoopbackHost,
  profileOptions,
  TLS_PROFILE,
  TR_02102_2_VERSION,
} from '../../../src/lib/tls-profile.js';
import { type KeyKind, selfSigned } from '../../helpers/certificates.js';

const certs = new Map<KeyKind, { cert: string; key: string }>();
beforeAll(async () => {
  for (const kind of ['P-256', 'P-384', 'P-521', 'RSA-2048', 'RSA-3072'] as const) {
    certs.set(kind, await selfSigned(kind));
  }
}, 60_000);
const material = (kind: KeyKind) => certs.get(kind) as { cert: string; key: string };

function errorCode(action: () => unknown): string | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe('the TLS profile', () => {
  it('follows TR-02102-2 in the 2026-01 version and says so', () => {
    expect(TR_02102_2_VERSION).toBe('2026-01');
    expect(TLS_PROFILE.guideline).toBe('BSI TR-02102-2, version 2026-01');
  });

  it('allows TLS 1.2 and 1.3 only', () => {
    expect(profileOptions()).toMatchObject({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
  });

  it('offers AES-256-GCM, AES-128-GCM and AES-128-CCM in TLS 1.3', () => {
    expect(TLS_PROFILE.tls13Suites).toEqual([
      'TLS_AES_256_GCM_SHA384',
      'TLS_AES_128_GCM_SHA256',
      'TLS_AES_128_CCM_SHA256',
    ]);
  });

  it('offers only ECDHE with AES-GCM or AES-CCM in TLS 1.2: no CBC, no SHA-1, no ChaCha20', () => {
    for (const suite of TLS_PROFILE.tls12Suites)
      expect(suite).toMatch(/^ECDHE-(ECDSA|RSA)-AES(128|256)-(GCM|CCM)/);
    expect(profileOptions().ciphers).not.toMatch(/CHACHA|CBC|-SHA(:|$)|(^|:)DHE-/);
  });

  it('offers P-384, P-256 and brainpool for key exchange, never X25519 or X448', () => {
    expect(TLS_PROFILE.groups).toEqual(['P-384', 'P-256', 'brainpoolP384r1', 'brainpoolP256r1']);
    expect(profileOptions().ecdhCurve).not.toMatch(/X25519|X448/i);
  });

  it('signs handshakes with ECDSA/SHA-2 or RSA-PSS only', () => {
    for (const alg of TLS_PROFILE.sigalgs)
      expect(alg).toMatch(/^(ecdsa_secp(256|384|521)r1_sha(256|384|512)|rsa_pss_)/);
  });

  it('is accepted as a whole by the OpenSSL that Node bundles', () => {
    expect(() => createSecureContext(profileOptions())).not.toThrow();
  });
});

describe('certificate and key checks', () => {
  it('accepts ECDSA P-256 and P-384 and RSA 3072', () => {
    for (const kind of ['P-256', 'P-384', 'RSA-3072'] as const) {
      expect(() => assertAcceptableMaterial(material(kind), 'http.tls')).not.toThrow();
    }
  });

  it('refuses RSA 2048 with IDG_TLS_WEAK_KEY', () => {
    expect(errorCode(() => assertAcceptableMaterial(material('RSA-2048'), 'http.tls'))).toBe(
      'IDG_TLS_WEAK_KEY',
    );
  });

  it('refuses curves outside P-256/P-384', () => {
    expect(errorCode(() => assertAcceptableMaterial(material('P-521'), 'http.tls'))).toBe('IDG_TLS_WEAK_KEY');
  });

  it('refuses a weak certificate among the trust anchors too', () => {
    const { cert, key } = material('P-256');
    expect(
      errorCode(() => assertAcceptableMaterial({ cert, key, ca: material('RSA-2048').cert }, 'mqtt.tls')),
    ).toBe('IDG_TLS_WEAK_KEY');
  });

  it('refuses a key that does not belong to the certificate', () => {
    const mismatch = { cert: material('P-256').cert, key: material('P-384').key };
    expect(errorCode(() => assertAcceptableMaterial(mismatch, 'http.tls'))).toBe('IDG_TLS_KEY_MISMATCH');
  });

  it('refuses a certificate that is not valid now', async () => {
    const expired = await selfSigned('P-256', {
      validFrom: Date.now() - 3 * 86_400_000,
      validTo: Date.now() - 86_400_000,
    });
    expect(errorCode(() => assertAcceptableMaterial(expired, 'http.tls'))).toBe('IDG_TLS_CERT_EXPIRED');
  });

  it('refuses text that holds no certificate', () => {
    expect(errorCode(() => assertAcceptableMaterial({ cert: 'hello' }, 'http.tls'))).toBe(
      'IDG_TLS_BAD_CERTIFICATE',
    );
  });
});

describe('secure by default outside loopback', () => {
  it('knows the loopback addresses and nothing else', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost'])
      expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', 'dashboard.example', '::ffff:10.0.0.1']) {
      expect(isLoopbackHost(host)).toBe(false);
    }
  });

  it('refuses a listener on a non-loopback address without TLS, naming what to configure', () => {
    expect(() => assertListenerSecure('dashboard', '0.0.0.0', false, 'Set http.tls.')).toThrow(
      /dashboard: refusing to listen on 0\.0\.0\.0 without TLS.*Set http\.tls\./,
    );
    expect(errorCode(() => assertListenerSecure('dashboard', '0.0.0.0', false, ''))).toBe('IDG_TLS_REQUIRED');
  });

  it('lets a listener on loopback stay plain, and any listener with TLS', () => {
    expect(() => assertListenerSecure('dashboard', '127.0.0.1', false, '')).not.toThrow();
    expect(() => assertListenerSecure('dashboard', '0.0.0.0', true, '')).not.toThrow();
  });
});

describe('mqttTlsOptions', () => {
  function files() {
    const dir = mkdtempSync(join(tmpdir(), 'idg-tls-'));
    const { cert, key } = material('P-256');
    writeFileSync(join(dir, 'client.crt'), cert);
    writeFileSync(join(dir, 'client.key'), key);
    chmodSync(join(dir, 'client.key'), 0o600);
    writeFileSync(join(dir, 'ca.crt'), material('P-384').cert);
    return {
      ca: join(dir, 'ca.crt'),
      cert: join(dir, 'client.crt'),
      key: { file: join(dir, 'client.key') },
    };
  }

  it('refuses a plain connection to a broker outside loopback', () => {
    expect(errorCode(() => mqttTlsOptions(undefined, 'mqtt://broker.example:1883'))).toBe('IDG_TLS_REQUIRED');
  });

  it('lets a plain connection to a loopback broker through (the demo, the tests)', () => {
    expect(mqttTlsOptions(undefined, 'mqtt://127.0.0.1:1883')).toBeUndefined();
  });

  it('refuses wss://, through which MQTT.js would not apply the profile', () => {
    expect(errorCode(() => mqttTlsOptions(files(), 'wss://broker.example:443/mqtt'))).toBe(
      'IDG_CONFIG_INVALID',
    );
  });

  it('refuses TLS settings on a plain url rather than ignoring them', () => {
    expect(errorCode(() => mqttTlsOptions(files(), 'mqtt://127.0.0.1:1883'))).toBe('IDG_CONFIG_INVALID');
  });

  it('gives mqtts:// the profile, the CA and the client certificate', () => {
    const options = mqttTlsOptions(files(), 'mqtts://broker.example:8883');
    expect(options).toMatchObject({ ...profileOptions(), rejectUnauthorized: true });
    expect(options?.ca).toContain('BEGIN CERTIFICATE');
    expect(options?.cert).toContain('BEGIN CERTIFICATE');
    expect(options?.key).toContain('PRIVATE KEY');
  });

  it('refuses a client key readable by others', () => {
    const config = files();
    chmodSync(config.key.file, 0o644);
    expect(errorCode(() => mqttTlsOptions(config, 'mqtts://broker.example:8883'))).toBe('IDG_CONFIG_SECRET');
  });
});
