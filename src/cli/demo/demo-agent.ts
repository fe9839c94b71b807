import { join } from 'node:path';
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import type { DemoConfig } from '../../config/demo-config.js';
import { generateTotpSecret } from '../../controllers/totp-secret.js';
import { readOrCreate } from '../../lib/state-files.js';

const AgentFile = Type.Object({ totpSecret: Type.String({ pattern: '^[A-Z2-7]{32,}$' }) });
const agentFileValidator = Compile(AgentFile);

export interface DemoAgent {
  id: string;
  name: string;
  badge: string;
  totpSecret: string;
}

/**
 * The demo's one agent. The TOTP secret is generated on the first start and kept (mode 0600) in
 * the state directory, so that an authenticator app set up once keeps working across restarts.
 */
export function loadDemoAgent(stateDir: string, agent: DemoConfig['agent']): DemoAgent {
  const raw = readOrCreate(join(stateDir, 'demo-agent.json'), () =>
    JSON.stringify({ totpSecret: generateTotpSecret() }, null, 2),
  );
  const parsed: unknown = JSON.parse(raw.toString('utf8'));
  if (!agentFileValidator.Check(parsed)) {
    throw new Error(`${join(stateDir, 'demo-agent.json')} is damaged; delete it to create a new demo secret`);
  }
  return { ...agent, totpSecret: parsed.totpSecret };
}
