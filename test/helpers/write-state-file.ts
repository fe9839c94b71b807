import { writeFileAtomic } from '../../src/lib/state-files.js';

/**
 * Writes `<bytes>` bytes to `<path>` with writeFileAtomic and prints what happened as JSON: run
 * under a file size limit (`ulimit -f`), where the kernel takes part of a write and refuses the
 * rest, as a disk that fills up does.
 */
const [path, bytes] = process.argv.slice(2);
try {
  writeFileAtomic(path as string, Buffer.alloc(Number(bytes), 'a'));
  console.log(JSON.stringify({ written: true }));
} catch (error) {
  console.log(JSON.stringify({ written: false, code: (error as NodeJS.ErrnoException).code }));
}
