import { MemoryWorkstationSessionStore } from '../../../src/dashboard/storage/workstation-session-store.js';
import { workstationSessionContract } from '../../helpers/workstation-session-contract.js';

workstationSessionContract('in memory', async () => {
  const store = new MemoryWorkstationSessionStore();
  return { store, erase: async (person) => store.erase(person) };
});
