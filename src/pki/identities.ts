import { CodedError } from '../lib/coded-error.js';
import { isId, isWorkstationId } from '../protocol/ids.js';

/**
 * Who a certificate is for. Mosquitto takes a client certificate's common name as the MQTT
 * username (`use_identity_as_username`), and the ACL grants topics per username, so the CN says
 * role, site and id: `gateway:<site>:<id>`, `workstation:<site>:<id>`, `dashboard:<name>`,
 * `broker:<name>`. Colons cannot occur in ids, so a CN always splits back into the same parts.
 * A workstation's id is its host name as registered (dots allowed, see WORKSTATION_ID_PATTERN):
 * the same id names its lock topic level and its ACL entry, so issuance accepts exactly the ids
 * registration does.
 */
export const ROLES = ['gateway', 'workstation', 'dashboard', 'broker'] as const;
export type Role = (typeof ROLES)[number];

export interface Identity {
  role: Role;
  /** The certificate's common name, which is the MQTT username. */
  cn: string;
  /** Gateways and workstations belong to a site. */
  site?: string;
  /** The gateway's or workstation's id, or the dashboard's or broker's name. */
  id: string;
}

/** Which extended key usages each role's certificate carries. */
export const ROLE_USAGE: Record<Role, { serverAuth: boolean; clientAuth: boolean }> = {
  gateway: { serverAuth: false, clientAuth: true },
  workstation: { serverAuth: false, clientAuth: true },
  // The dashboard serves HTTPS and is an MQTT client of the broker.
  dashboard: { serverAuth: true, clientAuth: true },
  broker: { serverAuth: true, clientAuth: false },
};

/** `workstations` is a topic level of its own (…/<site>/workstations/<ws>/…), not a gateway id. */
const RESERVED_GATEWAY_IDS = new Set(['workstations']);

export const PkiErrorCode = {
  name: 'IDG_PKI_NAME',
  days: 'IDG_PKI_DAYS',
  notInitialised: 'IDG_PKI_NOT_INITIALISED',
  exists: 'IDG_PKI_EXISTS',
  csr: 'IDG_PKI_CSR',
  unknown: 'IDG_PKI_UNKNOWN_CERTIFICATE',
  caKey: 'IDG_PKI_CA_KEY',
} as const;

function nameError(message: string): CodedError {
  return new CodedError(PkiErrorCode.name, message);
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** The identity for `identgate pki issue|csr <role> <name>`: `<site>/<id>` or a plain name. */
export function identityFor(role: Role, name: string): Identity {
  if (role === 'gateway' || role === 'workstation') {
    const [site, id, ...rest] = name.split('/');
    const validId = role === 'gateway' ? isId : isWorkstationId;
    if (!site || !id || rest.length > 0 || !isId(site) || !validId(id)) {
      throw nameError(
        role === 'gateway'
          ? `a gateway is named <site>/<id> with ids of letters, digits, "-" and "_", e.g. berlin-mitte/gw-room-1; got ${JSON.stringify(name)}`
          : `a workstation is named <site>/<id>: a site id of letters, digits, "-" and "_", and the workstation id as registered (a host name: letters, digits, ".", "-" and "_"), e.g. berlin-mitte/ws-ident-1-01.example.internal; got ${JSON.stringify(name)}`,
      );
    }
    if (role === 'gateway' && RESERVED_GATEWAY_IDS.has(id)) {
      throw nameError(`"${id}" is reserved for workstation topics and cannot be a gateway id`);
    }
    return { role, cn: `${role}:${site}:${id}`, site, id };
  }
  if (!isId(name)) {
    throw nameError(
      `a ${role} name is an id of letters, digits, "-" and "_" (e.g. central-1); got ${JSON.stringify(name)}`,
    );
  }
  return { role, cn: `${role}:${name}`, id: name };
}

/** The identity a common name stands for (a CSR's subject, an index entry). */
export function identityOfCommonName(cn: string): Identity {
  const [role, ...rest] = cn.split(':');
  if (!role || !isRole(role)) {
    throw nameError(`common name ${JSON.stringify(cn)} does not start with one of ${ROLES.join(', ')}`);
  }
  const name = role === 'gateway' || role === 'workstation' ? rest.join('/') : rest.join(':');
  const identity = identityFor(role, name);
  if (identity.cn !== cn) throw nameError(`common name ${JSON.stringify(cn)} is not in canonical form`);
  return identity;
}

/** A file-system-safe name for an identity's files: `gateway/berlin-mitte--gw-room-1`. */
export function fileStem(identity: Identity): string {
  return `${identity.role}/${identity.site ? `${identity.site}--` : ''}${identity.id}`;
}
