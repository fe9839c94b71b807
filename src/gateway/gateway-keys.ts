import { parseKey } from '../lib/aead.js';
import { KeyRing } from '../lib/key-ring.js';
import type { Logger } from '../lib/logger.js';
import { type CredentialCache, defaultStateKey } from './credential-cache.js';
import { resealIdentity } from './gateway-identity.js';
import type { VideoKeyStore } from './recorder/video-keys.js';

/**
 * The gateway's keys at rest and their rotation: the state key ring that seals the identity and
 * the credential cache, the files re-sealed under its current key, and the video day keys
 * re-wrapped under the current site key; at start, and when new keys arrive while it runs.
 */

/** New keys taken while running (SIGHUP during a rotation); either may be absent. */
export interface KeyReload {
  state?: { current: Buffer; decryptOnly: Buffer[] };
  video?: { current: Buffer; decryptOnly: Buffer[] };
}

/** What a reload re-sealed (state files) and re-wrapped (day keys), and the day keys no key opens. */
export interface KeysReloaded {
  state: string[];
  videoRewrapped: number;
  videoUnreadable: string[];
}

/** The state key and the files in the state directory sealed under it. */
export class StateKeys {
  readonly ring: KeyRing;

  /**
   * `credentialKey` is the state key (base64), default a key file in stateDir; `decryptOnly` are
   * earlier keys that still open files (a rotation).
   */
  constructor(
    private readonly stateDir: string,
    credentialKey: string | undefined,
    decryptOnly: string[] | undefined,
    private readonly log: Logger,
  ) {
    this.ring = new KeyRing(
      parseKey(credentialKey ?? defaultStateKey(stateDir)),
      (decryptOnly ?? []).map(parseKey),
    );
  }

  /** Files re-sealed under the current state key (none when nothing was under an older one). */
  reseal(credentials: CredentialCache): string[] {
    const resealed: string[] = [];
    if (resealIdentity(this.stateDir, this.ring)) resealed.push('identity.sealed');
    if (credentials.reseal()) resealed.push('credentials.sealed');
    if (resealed.length > 0)
      this.log.info({ files: resealed }, 'state files re-sealed under the current state key');
    return resealed;
  }

  /**
   * Takes new keys and re-seals every file under them: the state key (identity, credential cache)
   * and the video site key (day keys, when the recorder runs).
   */
  reload(keys: KeyReload, credentials: CredentialCache, recorder: VideoKeys | undefined): KeysReloaded {
    if (keys.state) this.ring.replace(keys.state.current, keys.state.decryptOnly);
    const state = this.reseal(credentials);
    let video = { rewrapped: 0, unreadable: [] as string[] };
    if (keys.video && recorder) {
      recorder.keyStore.replaceSiteKeys(keys.video.current, keys.video.decryptOnly);
      video = recorder.keyStore.rewrap();
    }
    return { state, videoRewrapped: video.rewrapped, videoUnreadable: video.unreadable };
  }
}

/** What holds the day keys: the recorder, or the housekeeping of a gateway without cameras. */
export interface VideoKeys {
  readonly keyStore: VideoKeyStore;
}

/** At start: day keys still wrapped under an older site key are re-wrapped under the current one. */
export function rewrapVideoKeys(recorder: VideoKeys, log: Logger): void {
  const rewrapped = recorder.keyStore.rewrap();
  if (rewrapped.rewrapped > 0 || rewrapped.unreadable.length > 0)
    log.info(rewrapped, 'video day keys re-wrapped under the current site key');
}
