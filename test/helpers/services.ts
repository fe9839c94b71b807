import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { scratchDatabase } from './scratch-database.js';

/** A fresh database on the test server for one test file, dropped afterwards. */
export function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  return scratchDatabase(inject('databaseUrl'), 'idg_test');
}

export function mqttUrl(): string {
  return inject('mqttUrl');
}

/** A site id no other test uses, so tests sharing one broker never see each other's topics. */
export function uniqueSite(prefix = 't'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export { testLogger } from './services-logger.js';

/**
 * Tests that need a Debian tool fail with the package to install rather than pass without
 * running (.ci/run installs them: chromium, ffmpeg, mosquitto, openssl, sslscan).
 */
export function requireTool(available: unknown, what: string, debianPackage: string): void {
  if (!available)
    throw new Error(
      `${what} is not installed; install the Debian package "${debianPackage}" to run these tests`,
    );
}
