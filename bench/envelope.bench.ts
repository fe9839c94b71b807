// Cost of the event envelope: signing and checking a full event (canonical JSON, Ed25519,
// JSON parse, schema validation) against the bare Ed25519 operations on the same bytes,
// measured in the same run. The ratio says how much the protocol adds on top of the crypto.
import { sign, verify } from 'node:crypto';
import {
  decodeEnvelope,
  SCHEMA_VERSION,
  signEnvelope,
  signingBytes,
  verifySignature,
} from '../src/protocol/envelope.js';
import { generateSigningKeyPair } from '../src/protocol/signing.js';
import { Uuidv7Generator } from '../src/protocol/uuidv7.js';
import { fmt, opsPerSecond, row } from './bench-kit.js';

const keys = generateSigningKeyPair();
const ids = new Uuidv7Generator();
const unsigned = {
  v: SCHEMA_VERSION,
  id: ids.next(),
  site: 'berlin',
  gateway: 'gw-1',
  seq: 42,
  time: new Date().toISOString(),
  kind: 'access.granted' as const,
  data: {
    door: 'main',
    direction: 'in' as const,
    person: 'agent-ada',
    badge: '0004711',
    factors: ['badge' as const, 'totp' as const],
    unlockMs: 5000,
  },
};
const bytes = signingBytes(unsigned);
const signature = sign(null, bytes, keys.privateKey);
const wire = Buffer.from(JSON.stringify(signEnvelope(unsigned, keys.privateKey)));

const bareSign = opsPerSecond(() => sign(null, bytes, keys.privateKey));
const fullSign = opsPerSecond(() => {
  JSON.stringify(signEnvelope({ ...unsigned, id: ids.next() }, keys.privateKey));
});
const bareVerify = opsPerSecond(() => verify(null, bytes, keys.publicKey, signature));
const fullCheck = opsPerSecond(() => {
  const decoded = decodeEnvelope(wire);
  if (!decoded.ok || !verifySignature(decoded.value, () => keys.publicKey).ok)
    throw new Error('check failed');
});

row('baseline: Ed25519 sign of the same bytes', `${fmt(bareSign)} /s`);
row(
  'envelope: build + canonical JSON + sign',
  `${fmt(fullSign)} /s`,
  `${(fullSign / bareSign).toFixed(2)} x baseline`,
);
row('baseline: Ed25519 verify of the same bytes', `${fmt(bareVerify)} /s`);
row(
  'envelope: parse + schema + kind data + verify',
  `${fmt(fullCheck)} /s`,
  `${(fullCheck / bareVerify).toFixed(2)} x baseline`,
);
