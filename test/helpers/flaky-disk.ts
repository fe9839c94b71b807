import { type FileHandle, open } from 'node:fs/promises';

/**
 * Files on a disk that refuses writes while `disk.failing`: each refused write first leaves half
 * a record behind, as a write cut short by a full disk does, then fails with ENOSPC. For the
 * outbox journal's `openFile`.
 */
export function flakyDisk(failing = true) {
  const disk = { failing, refused: 0 };
  const openFile = async (path: string): Promise<FileHandle> => {
    const real = await open(path, 'a', 0o600);
    return new Proxy(real, {
      get(target, property) {
        if (property === 'writev') {
          return async (buffers: Buffer[]) => {
            if (!disk.failing) return target.writev(buffers);
            disk.refused += 1;
            const first = buffers[0] as Buffer;
            await target.write(first.subarray(0, Math.ceil(first.length / 2)));
            throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
  return { disk, openFile };
}
