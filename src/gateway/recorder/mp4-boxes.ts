import { open } from 'node:fs/promises';
import { RecorderErrorCode, recorderError } from './recorder-errors.js';

/**
 * A structural check of a fragmented MP4 segment without starting a process: the top-level
 * boxes must be `ftyp`, `moov`, then complete `moof`/`mdat` pairs that end exactly at the end of
 * the file. That is what a segment ffmpeg closed itself looks like; a cut-off one fails. (ffprobe
 * costs ~50 ms of CPU per call, which at 16 cameras is most of the recorder's budget.)
 */
export interface Mp4Summary {
  fragments: number;
  bytes: number;
}

export async function checkFragmentedMp4(path: string): Promise<Mp4Summary> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const header = Buffer.alloc(16);
    const types: string[] = [];
    let offset = 0;
    while (offset < size) {
      const { bytesRead } = await file.read(header, 0, 16, offset);
      if (bytesRead < 8) throw invalid(path, `box header cut off at byte ${offset}`);
      let boxSize = header.readUInt32BE(0);
      const type = header.toString('latin1', 4, 8);
      if (boxSize === 1) {
        if (bytesRead < 16) throw invalid(path, `large box header cut off at byte ${offset}`);
        boxSize = Number(header.readBigUInt64BE(8));
      } else if (boxSize === 0) {
        boxSize = size - offset;
      }
      if (boxSize < 8 || offset + boxSize > size)
        throw invalid(path, `${type} box runs past the end of the file`);
      types.push(type);
      offset += boxSize;
    }
    if (types[0] !== 'ftyp' || !types.includes('moov')) throw invalid(path, 'no ftyp/moov header');
    const fragments = types.filter((t) => t === 'moof').length;
    if (fragments === 0 || fragments !== types.filter((t) => t === 'mdat').length) {
      throw invalid(path, 'no complete movie fragment');
    }
    return { fragments, bytes: size };
  } finally {
    await file.close();
  }
}

function invalid(path: string, why: string) {
  return recorderError(RecorderErrorCode.invalidSegment, `${path.split('/').pop()}: ${why}`);
}

/**
 * Cuts a fragmented MP4 a dead ffmpeg left (killed mid-write, a power cut) back to its last
 * complete `moof`/`mdat` pair, so that what is stored plays to its end: ffmpeg reading a cut-off
 * fragment stops there without failing, and a join through it would silently lose what follows.
 * Throws IDG_VIDEO_INVALID_SEGMENT when not even one fragment is whole. Returns the bytes cut off.
 */
export async function trimToLastFragment(path: string): Promise<{ fragments: number; cutBytes: number }> {
  const file = await open(path, 'r+');
  try {
    const { size } = await file.stat();
    const header = Buffer.alloc(16);
    let offset = 0;
    let sawHeader = false;
    let fragments = 0;
    let wholeEnd = 0;
    let previous = '';
    while (offset < size) {
      const { bytesRead } = await file.read(header, 0, 16, offset);
      if (bytesRead < 8) break;
      let boxSize = header.readUInt32BE(0);
      const type = header.toString('latin1', 4, 8);
      if (boxSize === 1) boxSize = bytesRead < 16 ? 0 : Number(header.readBigUInt64BE(8));
      if (boxSize < 8 || offset + boxSize > size) break;
      offset += boxSize;
      if (type === 'moov') sawHeader = true;
      if (type === 'mdat' && previous === 'moof') {
        fragments += 1;
        wholeEnd = offset;
      }
      previous = type;
    }
    if (!sawHeader || fragments === 0) throw invalid(path, 'no complete movie fragment');
    if (wholeEnd < size) {
      await file.truncate(wholeEnd);
      await file.sync();
    }
    return { fragments, cutBytes: size - wholeEnd };
  } finally {
    await file.close();
  }
}
