/**
 * Parsers for what ffmpeg tells us while it records: `-progress` blocks (key=value lines ending
 * in `progress=continue|end`) and the CSV segment list (`file,start,end`, times in seconds from
 * the first packet).
 */
export interface ProgressReport {
  /** Microseconds of media written so far, or undefined while ffmpeg has not started writing. */
  outTimeUs: number | undefined;
  frame: number | undefined;
  totalSize: number | undefined;
  ended: boolean;
}

export class ProgressParser {
  private fields = new Map<string, string>();

  /** Feeds one line; returns a report when the line closes a block. */
  push(line: string): ProgressReport | undefined {
    const at = line.indexOf('=');
    if (at < 0) return undefined;
    const key = line.slice(0, at).trim();
    const value = line.slice(at + 1).trim();
    if (key !== 'progress') {
      this.fields.set(key, value);
      return undefined;
    }
    const report: ProgressReport = {
      outTimeUs: numberOrUndefined(this.fields.get('out_time_us')),
      frame: numberOrUndefined(this.fields.get('frame')),
      totalSize: numberOrUndefined(this.fields.get('total_size')),
      ended: value === 'end',
    };
    this.fields = new Map();
    return report;
  }
}

function numberOrUndefined(text: string | undefined): number | undefined {
  if (text === undefined || text === 'N/A') return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

export interface SegmentListEntry {
  file: string;
  startSeconds: number;
  endSeconds: number;
}

/** One line of `-segment_list_type csv`; file names with commas are quoted by ffmpeg. */
export function parseSegmentListLine(line: string): SegmentListEntry | undefined {
  const match = /^(?:"((?:[^"]|"")*)"|([^,]*)),([-\d.]+),([-\d.]+)\s*$/.exec(line.trim());
  if (!match) return undefined;
  const file = match[1] !== undefined ? match[1].replaceAll('""', '"') : (match[2] ?? '');
  const startSeconds = Number(match[3]);
  const endSeconds = Number(match[4]);
  if (!file || !Number.isFinite(startSeconds) || !Number.isFinite(endSeconds)) return undefined;
  return { file, startSeconds, endSeconds };
}

/** Splits a byte stream into lines, keeping a partial last line for the next chunk. */
export function lineSplitter(onLine: (line: string) => void): (chunk: Buffer | string) => void {
  let rest = '';
  return (chunk) => {
    rest += chunk.toString();
    let at = rest.indexOf('\n');
    while (at >= 0) {
      const line = rest.slice(0, at).replace(/\r$/, '');
      rest = rest.slice(at + 1);
      if (line.length > 0) onLine(line);
      at = rest.indexOf('\n');
    }
  };
}
