import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { resolveSecret } from '../../config/load-config.js';
import type { VideoConfig } from '../../config/video-config.js';
import { parseKey } from '../../lib/aead.js';
import { readOrCreate } from '../../lib/state-files.js';

/** The site key (configured, or a key file created in the state directory) and the decrypt-only ones. */
export function videoSiteKeys(
  video: VideoConfig,
  stateDir: string,
  env: Record<string, string | undefined> = process.env,
): { current: Buffer; decryptOnly: Buffer[] } {
  const current = parseKey(
    video.siteKey
      ? resolveSecret(video.siteKey, 'video.siteKey', env)
      : readOrCreate(join(stateDir, 'video-site-key'), () => randomBytes(32).toString('base64')).toString(
          'utf8',
        ),
  );
  const decryptOnly = (video.siteKeyDecryptOnly ?? []).map((ref, i) =>
    parseKey(resolveSecret(ref, `video.siteKeyDecryptOnly[${i}]`, env)),
  );
  return { current, decryptOnly };
}
