import type { KeyObject } from 'node:crypto';
import type { PresenceEnd } from '../../controllers/presence/presence-tracker.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { Uuidv7Generator } from '../../protocol/uuidv7.js';
import { signLockCommand, workstationCommandTopic } from '../../protocol/workstation-commands.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { CentralMessenger } from '../central-messenger.js';
import type { WorkstationRow } from '../storage/workstation-store.js';

/**
 * Lock on leave, the central half: a signed `session.lock` to the workstation's command topic,
 * audited whether or not it could be sent. The workstation agent answers through the API
 * (`lock-result`), which is audited too.
 */
export interface WorkstationLockerOptions {
  messenger: () => CentralMessenger;
  signingKey: KeyObject | undefined;
  audit: AuditLog;
  clock: Clock;
  log: Logger;
}

export class WorkstationLocker {
  private readonly ids: Uuidv7Generator;

  constructor(private readonly options: WorkstationLockerOptions) {
    this.ids = new Uuidv7Generator(() => options.clock.now());
  }

  async lock(workstation: WorkstationRow, user: string, reason: PresenceEnd): Promise<string | undefined> {
    const { audit, log, signingKey } = this.options;
    let sent: string | undefined;
    let failure: string | undefined;
    try {
      if (!signingKey) throw new Error('no central signing key (keys.signing): lock commands are off');
      const command = signLockCommand(
        { site: workstation.site, workstation: workstation.id },
        { user, reason },
        this.ids.next(),
        this.options.clock.now(),
        60_000,
        signingKey,
      );
      await this.options
        .messenger()
        .publishSigned(workstationCommandTopic(workstation.site, workstation.id), JSON.stringify(command));
      sent = command.id;
    } catch (error) {
      failure = (error as Error).message;
      log.error({ err: error, workstation: workstation.id }, 'lock command could not be sent');
    }
    await audit.record({
      actor: 'system',
      action: sent ? 'workstation.lock-sent' : 'workstation.lock-failed',
      target: `workstation:${workstation.id}`,
      details: { user, reason, ...(sent ? { command: sent } : { error: failure }) },
    });
    return sent;
  }
}
