import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptFile } from '../../../src/gateway/recorder/segment-crypto.js';
import { type FootageFile, INDEX_FILE, SegmentIndex } from '../../../src/gateway/recorder/segment-index.js';
import { KeyRing } from '../../../src/lib/key-ring.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { type Rig, startRig } from '../../helpers/recorder-rig.js';

/**
 * Someone who can write the footage disk but holds no key: swaps segment files, edits the plain
 * index. Playback, clips and stored-file reads must refuse what is not what was recorded.
 */
describe('footage integrity: files and index rows that are not what was recorded', () => {
  let rig: Rig;
  let segments: FootageFile[];

  beforeAll(async () => {
    rig = await startRig();
    await rig.events.count('video.segment', 9, 60_000);
    await rig.recorder.stop();
    // The largest run of segments filed under one day (a test may run across midnight).
    const all = rig.recorder.index.all('cam-1').filter((f) => f.kind === 'segment');
    const days = [...new Set(all.map((f) => f.day))].map((day) => all.filter((f) => f.day === day));
    segments = days.sort((a, b) => b.length - a.length)[0] ?? [];
    expect(segments.length).toBeGreaterThanOrEqual(7);
  });

  afterAll(async () => {
    await rig?.stop();
  });

  const seg = (at: number) => segments[at] as FootageFile;
  const playback = (victim: FootageFile) =>
    rig.recorder.playback('cam-1', victim.startMs + 50, victim.endMs - 50);
  const tamperedEvents = () => rig.events.of('video.tampered');
  /** The recorder's plaintext work folder (on a memory file system here), which a stop removes. */
  const workDir = () => {
    mkdirSync(rig.recorder.workDir, { recursive: true, mode: 0o700 });
    return rig.recorder.workDir;
  };

  function editRow(victim: FootageFile, edit: (row: Record<string, unknown>) => void): void {
    const path = join(rig.recorder.index.dayDir(victim.camera, victim.day), INDEX_FILE);
    const lines = readFileSync(path, 'utf8').split('\n');
    const edited = lines.map((line) => {
      if (!line.includes(`"file":"${victim.file}"`) || !line.includes('"t":"segment"')) return line;
      const row = JSON.parse(line) as Record<string, unknown>;
      edit(row);
      return JSON.stringify(row);
    });
    writeFileSync(path, edited.join('\n'));
  }

  it('plays back a range of untouched footage', async () => {
    const played = await playback(seg(1));
    expect(played.bytes).toBeGreaterThan(0);
    played.release();
  });

  it('refuses to play back a segment swapped for another of the same camera-day, and names it', async () => {
    const victim = seg(2);
    copyFileSync(seg(0).path, victim.path);
    await expect(playback(victim)).rejects.toMatchObject({ code: 'IDG_VIDEO_TAMPERED' });
    expect(tamperedEvents().at(-1)).toMatchObject({
      camera: 'cam-1',
      day: victim.day,
      file: victim.file,
      detail: expect.stringMatching(/plain bytes, its index row|hashes to/),
    });
    // No plaintext of the refused export is left behind.
    expect(readdirSync(workDir())).toEqual([]);
  });

  it('refuses an index row edited to name the swapped-in file’s hash', async () => {
    const victim = seg(3);
    copyFileSync(seg(0).path, victim.path);
    editRow(victim, (row) => {
      row.sha256 = seg(0).sha256;
      row.plainBytes = seg(0).plainBytes;
    });
    await expect(playback(victim)).rejects.toMatchObject({ code: 'IDG_VIDEO_TAMPERED' });
    expect(tamperedEvents().at(-1)).toMatchObject({
      file: victim.file,
      detail: expect.stringContaining('MAC'),
    });
  });

  it('refuses an index row stripped of its MAC in a day whose rows all have one', async () => {
    const victim = seg(4);
    editRow(victim, (row) => {
      row.mac = undefined;
    });
    await expect(playback(victim)).rejects.toMatchObject({ code: 'IDG_VIDEO_TAMPERED' });
    expect(tamperedEvents().at(-1)).toMatchObject({
      file: victim.file,
      detail: expect.stringContaining('has no MAC'),
    });
  });

  it('refuses a file whose header names another day’s key', async () => {
    const victim = seg(5);
    const plain = join(workDir(), 'other-day.mp4');
    const other = rig.keys.keyFor('cam-1', '2026-01-01');
    writeFileSync(
      plain,
      Buffer.concat(await (await rig.recorder.openFootage(idOf(seg(1)))).stream.toArray()),
    );
    await encryptFile(plain, victim.path, other.key, other.keyId);
    rmSync(plain);
    await expect(playback(victim)).rejects.toMatchObject({ code: 'IDG_VIDEO_TAMPERED' });
    expect(tamperedEvents().at(-1)).toMatchObject({
      file: victim.file,
      detail: expect.stringContaining('its header names key cam-1/2026-01-01'),
    });
  });

  it('refuses a whole stored-file read of a swapped file, and names it', async () => {
    const victim = seg(2); // swapped above
    await expect(rig.recorder.openFootage(idOf(victim))).rejects.toMatchObject({
      code: 'IDG_VIDEO_TAMPERED',
    });
    expect(tamperedEvents().at(-1)).toMatchObject({ file: victim.file });
  });

  it('checks the plaintext’s SHA-256: other bytes of the same size under the right key fail at the end', async () => {
    // Only a key holder could do this; it shows the last check on its own.
    const victim = seg(1);
    const plain = join(workDir(), 'flipped.mp4');
    const bytes = Buffer.concat(await (await rig.recorder.openFootage(idOf(victim))).stream.toArray());
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] as number) ^ 0xff;
    writeFileSync(plain, bytes);
    await encryptFile(plain, victim.path, rig.keys.lookup(victim.keyId), victim.keyId);
    rmSync(plain);

    const opened = await rig.recorder.openFootage(idOf(victim));
    await expect(opened.stream.toArray()).rejects.toMatchObject({ code: 'IDG_VIDEO_TAMPERED' });
    expect(tamperedEvents().at(-1)).toMatchObject({
      file: victim.file,
      detail: expect.stringContaining(`its index row says ${victim.sha256}`),
    });
    await expect(playback(victim)).rejects.toMatchObject({ code: 'IDG_VIDEO_TAMPERED' });
    // A byte range cannot be hashed: it is served (the dashboard hashes what it assembled).
    const part = await rig.recorder.openFootage(idOf(victim), { start: 0, end: 99 });
    expect(Buffer.concat(await part.stream.toArray())).toHaveLength(100);
  });

  it('reads a day from before rows were authenticated, and still refuses a file swapped there', async () => {
    // A day recorded by an older gateway: its key is the bare 32 bytes, its rows carry no MAC.
    const day = '2026-01-05';
    const key = randomBytes(32);
    const keyId = `cam-1/${day}`;
    writeFileSync(
      join(rig.keysDir, 'cam-1', `${day}.key`),
      `${new KeyRing(rig.siteKey).seal(key, `identgate/video-key/v1/${keyId}`)}\n`,
    );
    const legacy = new SegmentIndex(rig.videoDir, silentLogger);
    mkdirSync(legacy.dayDir('cam-1', day), { recursive: true });
    const startMs = Date.parse(`${day}T10:00:00Z`);
    const rows: FootageFile[] = [];
    for (const [at, source] of [seg(0), seg(6)].entries()) {
      const plain = join(workDir(), `legacy-${at}.mp4`);
      writeFileSync(
        plain,
        Buffer.concat(await (await rig.recorder.openFootage(idOf(source))).stream.toArray()),
      );
      const file = `legacy-${at}.mp4.idgv`;
      const sealed = await encryptFile(plain, join(legacy.dayDir('cam-1', day), file), key, keyId);
      rmSync(plain);
      const row = {
        t: 'segment' as const,
        file,
        start: new Date(startMs + at * (source.endMs - source.startMs)).toISOString(),
        end: new Date(startMs + (at + 1) * (source.endMs - source.startMs)).toISOString(),
        bytes: sealed.bytes,
        plainBytes: sealed.plainBytes,
        keyId,
        sha256: sealed.sha256,
      };
      legacy.append('cam-1', day, row);
      rows.push({ ...(rig.recorder.footageFile(`cam-1/${day}/${file}`) as FootageFile) });
    }
    const [first, second] = rows as [FootageFile, FootageFile];
    expect(first.row?.mac).toBeUndefined();
    const played = await rig.recorder.playback('cam-1', first.startMs, second.endMs);
    expect(played.segments.map((s) => s.file)).toEqual([first.file, second.file]);
    played.release();

    copyFileSync(first.path, second.path);
    await expect(playback(second)).rejects.toMatchObject({ code: 'IDG_VIDEO_TAMPERED' });
    expect(tamperedEvents().at(-1)).toMatchObject({
      file: second.file,
      detail: expect.stringMatching(/plain bytes, its index row|hashes to/),
    });
  });
});

function idOf(file: FootageFile): string {
  return `${file.camera}/${file.day}/${file.file}`;
}
