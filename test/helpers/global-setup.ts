import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedBroker } from '../../src/cli/demo/embedded-broker.js';
import { startEmbeddedDatabase } from '../../src/cli/demo/embedded-database.js';
import { silentLogger } from '../../src/lib/logger.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    mqttUrl: string;
  }
}

/**
 * Integration tests run against the PostgreSQL server and MQTT broker named by TEST_DATABASE_URL
 * and TEST_MQTT_URL (CI points them at the machine's real services). When they are not set, an
 * embedded PostgreSQL and an aedes broker are started for the run, so `npm test` works anywhere.
 */
export default async function setup(project: TestProject) {
  const cleanups: Array<() => Promise<void>> = [];
  let databaseUrl = process.env.TEST_DATABASE_URL;
  if (!databaseUrl) {
    const dir = mkdtempSync(join(tmpdir(), 'identgate-test-pg-'));
    const database = await startEmbeddedDatabase(dir, 55432, silentLogger);
    const url = new URL(database.url);
    url.password = database.password;
    databaseUrl = url.toString();
    cleanups.push(async () => {
      await database.stop();
      rmSync(dir, { recursive: true, force: true });
    });
  }
  let mqttUrl = process.env.TEST_MQTT_URL;
  if (!mqttUrl) {
    const broker = await startEmbeddedBroker('127.0.0.1', 41883, silentLogger);
    mqttUrl = broker.url;
    cleanups.push(() => broker.close());
  }
  project.provide('databaseUrl', databaseUrl);
  project.provide('mqttUrl', mqttUrl);
  return async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
}
