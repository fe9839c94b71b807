import { createHash } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import { PassThrough, type Readable, pipeline as streamPipeline, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type CodedError, hasCode } from '../../lib/coded-error.js';
import { rowMacValid } from './index-mac.js';
import { RecorderErrorCode, recorderError } from './recorder-errors.js';
import { type DecryptRange, type KeyLookup, openDecryptStream } from './segment-crypto.js';
import type { FootageFile } from './segment-index.js';
import { keyIdOf } from './video-days.js';

/**
 * Footage is read only if it is what its index row says was recorded. The chunk encryption binds
 * each chunk to its file's header, not to the file's name or its row, so without these checks
 * someone who can write the footage disk but holds no key could copy one segment over another of
 * the same camera-day, or edit the plain index, and playback would show the wrong minutes:
 *
 * 1. the row names the day's key, and its MAC holds (index-mac.ts) — or, in a day whose key was
 *    made before rows were authenticated, it has none: an *unauthenticated index (pre-change)*,
 *    read on the strength of checks 2 and 3 alone;
 * 2. the file's header names the row's key, and its plaintext size is the row's;
 * 3. the decrypted bytes hash to the row's SHA-256 (whenever the whole file is read).
 *
 * A file that fails is not served (IDG_VIDEO_TAMPERED, or IDG_VIDEO_AUTH / IDG_VIDEO_TRUNCATED from
 * the chunks) and is reported by name, which the gateway turns into a `video-tampered` alarm.
 */
export interface IntegrityKeys {
  lookup(keyId: string): Buffer;
  indexAuthenticated(keyId: string): boolean;
}

export interface TamperReport {
  camera: string;
  day: string;
  file: string;
  detail: string;
}

const CHUNK_FAILURES = [RecorderErrorCode.auth, RecorderErrorCode.truncated, RecorderErrorCode.format];

export class FootageIntegrity {
  constructor(
    private readonly keys: IntegrityKeys,
    private readonly onTampered: (report: TamperReport) => void,
  ) {}

  /** Check 1: the index row. Throws IDG_VIDEO_TAMPERED, or IDG_VIDEO_KEY_MISSING when the day's key is gone. */
  checkRow(file: FootageFile): void {
    const dayKeyId = keyIdOf(file.camera, file.day);
    if (file.keyId !== dayKeyId)
      throw this.tampered(file, `its index row names key ${file.keyId}, not the day's key ${dayKeyId}`);
    const row = file.row;
    if (row?.mac !== undefined) {
      if (!rowMacValid(this.keys.lookup(dayKeyId), file.camera, file.day, row))
        throw this.tampered(file, 'its index row fails its MAC (edited, or copied from elsewhere)');
    } else if (this.keys.indexAuthenticated(dayKeyId)) {
      throw this.tampered(file, 'its index row has no MAC, though every row of its day has one');
    }
  }

  /** Decrypts the whole file to `target` (0600) after checks 1 and 2, and deletes it again unless check 3 holds. */
  async decrypt(file: FootageFile, target: string): Promise<void> {
    const { stream } = await this.open(file);
    try {
      await pipeline(stream, createWriteStream(target, { mode: 0o600 }));
    } catch (error) {
      rmSync(target, { force: true });
      throw error;
    }
  }

  /**
   * Decrypts the file, or a byte range of it, after checks 1 and 2. Read whole, the stream fails
   * at its end unless the bytes hash to the row's SHA-256 (check 3); a range cannot be hashed,
   * and the dashboard compares the hash of what it assembled with the one the gateway announced.
   */
  async open(file: FootageFile, range: DecryptRange = {}): Promise<{ stream: Readable; plainBytes: number }> {
    this.checkRow(file);
    let opened: { stream: Readable; plainBytes: number };
    try {
      opened = await openDecryptStream(file.path, this.keyFor(file), range);
    } catch (error) {
      throw this.noted(file, error);
    }
    if (opened.plainBytes !== file.plainBytes) {
      opened.stream.destroy();
      throw this.tampered(
        file,
        `it holds ${opened.plainBytes} plain bytes, its index row ${file.plainBytes}`,
      );
    }
    const whole = (range.start ?? 0) <= 0 && (range.end === undefined || range.end >= opened.plainBytes - 1);
    const checked = whole ? this.hashCheck(file) : new PassThrough();
    opened.stream.on('error', (error) => this.noted(file, error));
    // pipeline hands a failure on to `checked`, where the reader sees it, and closes the file
    // when the reader stops early.
    streamPipeline(opened.stream, checked, () => undefined);
    return { stream: checked, plainBytes: opened.plainBytes };
  }

  /** Check 2, at the moment the header is read: the key it names must be the row's. */
  private keyFor(file: FootageFile): KeyLookup {
    return (headerKeyId) => {
      if (headerKeyId !== file.keyId)
        throw this.tampered(file, `its header names key ${headerKeyId}, its index row ${file.keyId}`);
      return this.keys.lookup(headerKeyId);
    };
  }

  private hashCheck(file: FootageFile): Transform {
    const hash = createHash('sha256');
    return new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
      flush: (done) => {
        const sha256 = hash.digest('hex');
        done(
          sha256 === file.sha256
            ? null
            : this.tampered(file, `its plaintext hashes to ${sha256}, its index row says ${file.sha256}`),
        );
      },
    });
  }

  /** A chunk that fails authentication is reported like any other tampering; other errors pass. */
  private noted(file: FootageFile, error: unknown): unknown {
    if (CHUNK_FAILURES.some((code) => hasCode(error, code))) this.report(file, (error as CodedError).message);
    return error;
  }

  private tampered(file: FootageFile, detail: string): CodedError {
    this.report(file, detail);
    return recorderError(
      RecorderErrorCode.tampered,
      `footage ${file.camera}/${file.day}/${file.file} is not what was recorded: ${detail}`,
    );
  }

  private report(file: FootageFile, detail: string): void {
    this.onTampered({ camera: file.camera, day: file.day, file: file.file, detail: detail.slice(0, 500) });
  }
}
