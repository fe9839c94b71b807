import { beforeEach, describe, expect, it } from 'vitest';
import type { WorkstationSessionStore } from '../../src/dashboard/storage/workstation-session-store.js';

/**
 * What every store of workstation sessions (lock on leave) must do, run against each: the memory
 * store in the unit tests, the table in the integration tests. Workstations `ws-1` and `ws-2` at
 * site `hq`, and people `ada` and `bob`, exist.
 */
export interface SessionStoreRig {
  store: WorkstationSessionStore;
  /** What an erasure of the person does to the store. */
  erase(person: string): Promise<void>;
}

const T = Date.UTC(2026, 5, 1, 8);
const session = (workstation: string, person: string, allowedAt = T) => ({
  workstation,
  site: 'hq',
  person,
  allowedAt,
});

export function workstationSessionContract(name: string, fresh: () => Promise<SessionStoreRig>): void {
  describe(`workstation sessions: ${name}`, () => {
    let rig: SessionStoreRig;
    beforeEach(async () => {
      rig = await fresh();
    });

    it('lists an allowed session with its site and time, once however often it is allowed', async () => {
      await rig.store.allowed(session('ws-1', 'ada'));
      await rig.store.allowed(session('ws-1', 'ada', T + 1000));
      expect(await rig.store.list()).toEqual([session('ws-1', 'ada', T + 1000)]);
    });

    it('keeps several people per workstation', async () => {
      await rig.store.allowed(session('ws-1', 'ada'));
      await rig.store.allowed(session('ws-1', 'bob'));
      expect((await rig.store.list()).map((s) => s.person)).toEqual(['ada', 'bob']);
    });

    it("gives a person's sessions to the first who claims them, and to nobody after", async () => {
      await rig.store.allowed(session('ws-2', 'ada'));
      await rig.store.allowed(session('ws-1', 'ada'));
      await rig.store.allowed(session('ws-1', 'bob'));
      expect((await rig.store.claimPerson('ada')).map((s) => s.workstation)).toEqual(['ws-1', 'ws-2']);
      expect(await rig.store.claimPerson('ada')).toEqual([]);
      expect(await rig.store.list()).toEqual([session('ws-1', 'bob')]);
    });

    it('claims a listed session once, and not after it was allowed again', async () => {
      await rig.store.allowed(session('ws-1', 'ada'));
      await rig.store.allowed(session('ws-1', 'bob'));
      const [ada, bob] = await rig.store.list();
      await rig.store.allowed(session('ws-1', 'bob', T + 1000));
      expect(await rig.store.claim(ada as never)).toBe(true);
      expect(await rig.store.claim(ada as never)).toBe(false);
      expect(await rig.store.claim(bob as never)).toBe(false);
      expect(await rig.store.list()).toEqual([session('ws-1', 'bob', T + 1000)]);
    });

    it("keeps an erased person's sessions without the person, to be claimed as such", async () => {
      await rig.store.allowed(session('ws-1', 'ada'));
      await rig.erase('ada');
      const [erased] = await rig.store.list();
      expect(erased).toEqual({ workstation: 'ws-1', site: 'hq', person: null, allowedAt: T });
      expect(await rig.store.claimPerson('ada')).toEqual([]);
      expect(await rig.store.claim(erased as never)).toBe(true);
      expect(await rig.store.list()).toEqual([]);
    });
  });
}
