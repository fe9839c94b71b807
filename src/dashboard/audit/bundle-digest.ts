import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

/** One file of a bundle as the manifest lists it. */
export interface FileEntry {
  name: string;
  bytes: number;
  sha256: string;
}

/**
 * Hashes and counts what passes through, in blocks of about 64 KiB: COPY hands over one chunk per
 * row, and a million tiny writes cost more than the rows. `onLines` hears of newlines (rows).
 */
export class Digesting extends Transform {
  private readonly hash = createHash('sha256');
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  bytes = 0;

  constructor(private readonly onLines?: (lines: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void) {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= 65_536) this.emitBlock();
    done();
  }

  override _flush(done: (error?: Error | null) => void) {
    this.emitBlock();
    done();
  }

  private emitBlock(): void {
    if (this.pendingBytes === 0) return;
    const block =
      this.pending.length === 1
        ? (this.pending[0] as Buffer)
        : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.hash.update(block);
    this.bytes += block.length;
    if (this.onLines) {
      let lines = 0;
      for (let i = block.indexOf(10); i !== -1; i = block.indexOf(10, i + 1)) lines += 1;
      this.onLines(lines);
    }
    this.push(block);
  }

  entry(name: string): FileEntry {
    return { name, bytes: this.bytes, sha256: this.hash.digest('hex') };
  }
}

export function fileEntry(name: string, content: string | Buffer): FileEntry {
  const bytes = Buffer.from(content);
  return { name, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}
