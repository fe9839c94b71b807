import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StaffClient } from '../helpers/staff.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const JPEG = readFileSync('test/fixtures/photo.jpg');
const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');

/** People's photos: set by administrators, sealed at rest, seen by those who watch the doors. */
describe('people photos', () => {
  let system: TestSystem;
  let admin: StaffClient;
  let security: StaffClient;
  let auditor: StaffClient;
  let person: string;

  beforeAll(async () => {
    system = await startTestSystem();
    admin = await system.staff('admin');
    security = await system.staff('security');
    auditor = await system.staff('auditor');
    person = system.agent.person;
  });

  afterAll(async () => {
    await system?.stop();
  });

  const upload = (client: StaffClient, body: Buffer, type = 'image/jpeg', who = person) =>
    client.request('PUT', `/api/v1/people/${who}/photo`, body, { 'content-type': type });

  it('stores a photo an administrator uploads, sealed, and audits it', async () => {
    const response = await upload(admin, JPEG);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ person, contentType: 'image/jpeg', bytes: JPEG.length });
    const { rows } = await system.dashboard.pool.query(
      'SELECT content_type, bytes, photo_sealed FROM person_photos WHERE person_id = $1',
      [person],
    );
    expect(rows[0]).toMatchObject({ content_type: 'image/jpeg', bytes: JPEG.length });
    // Ciphertext only: neither the raw bytes nor their base64 are in the column.
    const sealed = rows[0].photo_sealed as string;
    expect(sealed).not.toContain(JPEG.subarray(0, 64).toString('base64').slice(0, 40));
    expect(Buffer.from(sealed).includes(JPEG.subarray(100, 140))).toBe(false);
    const audit = await system.dashboard.audit.recent({ action: 'person.photo-set', limit: 5 });
    expect(audit[0]).toMatchObject({
      actor: `staff:${admin.login}`,
      target: `person:${person}`,
      details: { contentType: 'image/jpeg', bytes: JPEG.length },
    });
  });

  it('serves it to security staff unchanged and uncached, and lists who has one', async () => {
    const response = await security.request('GET', `/api/v1/people/${person}/photo`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('image/jpeg');
    expect(response.headers['cache-control']).toBe('private, no-store');
    expect(response.rawPayload.equals(JPEG)).toBe(true);
    const list = await security.request('GET', '/api/v1/photos');
    expect(list.json().photos).toEqual([{ person, version: expect.stringMatching(/^\d+$/) }]);
  });

  it('refuses auditors and anonymous callers the photo, and anyone but an administrator the upload', async () => {
    expect((await auditor.request('GET', `/api/v1/people/${person}/photo`)).statusCode).toBe(403);
    expect((await auditor.request('GET', '/api/v1/photos')).statusCode).toBe(403);
    const anonymous = await system.dashboard.http.inject({
      method: 'GET',
      url: `/api/v1/people/${person}/photo`,
    });
    expect(anonymous.statusCode).toBe(401);
    expect((await upload(security, JPEG)).statusCode).toBe(403);
    expect((await upload(auditor, JPEG)).statusCode).toBe(403);
  });

  it('reads the type from the bytes: an SVG sent as PNG, text and an empty body are refused', async () => {
    const svg = await upload(admin, SVG, 'image/png');
    expect(svg.statusCode).toBe(400);
    expect(svg.json().message).toBe('not a JPEG, PNG or WebP image');
    expect((await upload(admin, Buffer.from('hello'), 'application/octet-stream')).statusCode).toBe(400);
    const json = await admin.request('PUT', `/api/v1/people/${person}/photo`, { image: 'x' });
    expect(json.statusCode).toBe(400);
    expect(json.json().message).toMatch(/send the image itself as the body/);
    // The stored photo is still the first one.
    const stored = await security.request('GET', `/api/v1/people/${person}/photo`);
    expect(stored.rawPayload.equals(JPEG)).toBe(true);
  });

  it('refuses a photo over 512 KiB, an unknown person and a hostile id', async () => {
    const big = Buffer.concat([JPEG, Buffer.alloc(512 * 1024)]);
    expect((await upload(admin, big)).statusCode).toBe(413);
    const unknown = await upload(admin, JPEG, 'image/jpeg', 'nobody-here');
    expect(unknown.statusCode).toBe(404);
    const hostile = await upload(admin, JPEG, 'image/jpeg', '..%2F..%2Fetc');
    expect(hostile.statusCode).toBe(400);
    expect((await security.request('GET', '/api/v1/people/nobody-here/photo')).statusCode).toBe(404);
  });

  it('removes a photo on request (audited), and with the person when they are erased', async () => {
    const removed = await admin.request('DELETE', `/api/v1/people/${person}/photo`);
    expect(removed.statusCode).toBe(204);
    expect((await security.request('GET', `/api/v1/people/${person}/photo`)).statusCode).toBe(404);
    expect((await admin.request('DELETE', `/api/v1/people/${person}/photo`)).statusCode).toBe(404);
    const audit = await system.dashboard.audit.recent({ action: 'person.photo-removed', limit: 5 });
    expect(audit[0]).toMatchObject({ actor: `staff:${admin.login}`, target: `person:${person}` });

    expect((await upload(admin, JPEG)).statusCode).toBe(200);
    await system.dashboard.retention.erasePerson(person, { keepEvents: true }, 'test');
    const { rows } = await system.dashboard.pool.query('SELECT count(*)::int AS n FROM person_photos');
    expect(rows[0].n).toBe(0);
  });
});
