import { writeFileAtomic, writeFileAtomicAsync } from '../../src/lib/state-files.js';

/**
 * Writes `<bytes>` bytes to `<path>` with writeFileAtomic (writeFileAtomicAsync with a third
 * argument `async`) and prints what happened as JSON: run under a file size limit (`ulimit -f`),
 * where the kernel takes part of a write and refuses the rest, as a disk that fills up does.
 */
const [path, bytes, mode] = process.argv.slice(2);
try {
  const data = Buffer.alloc(Number(bytes), 'a');
  if (mode === 'async') await writeFileAtomicAsync(path as string, data);
  else writeFileAtomic(path as string, data);
  console.log(JSON.stringify({ written: true }));
} catch (error) {
  console.log(JSON.stringify({ written: false, code: (error as NodeJS.ErrnoException).code }));
}
