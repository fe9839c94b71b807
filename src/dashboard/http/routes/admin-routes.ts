import type { FastifyPluginAsync } from 'fastify';
import type { Pool } from 'pg';
import type { Logger } from '../../../lib/logger.js';
import type { AuditLog } from '../../audit/audit-log.js';
import type { AuthService } from '../../auth/auth-service.js';
import { SessionStore } from '../../auth/session-store.js';
import { StaffInvitations } from '../../auth/staff-invitations.js';
import type { StaffStore } from '../../auth/staff-store.js';
import type { CentralMessenger } from '../../central-messenger.js';
import type { RetentionService } from '../../retention/retention-service.js';
import { DirectoryStore } from '../../storage/directory-store.js';
import { PeopleDirectory } from '../../storage/people-directory.js';
import type { PeopleStore } from '../../storage/people-store.js';
import { PeopleAdmin } from '../admin-people-support.js';
import { adminCredentialRoutes } from './admin-credential-routes.js';
import { adminDirectoryRoutes } from './admin-directory-routes.js';
import { adminPeopleRoutes } from './admin-people-routes.js';
import { adminRetentionRoutes } from './admin-retention-routes.js';
import { adminStaffRoutes } from './admin-staff-routes.js';

export interface AdminRoutesOptions {
  pool: Pool;
  auth: AuthService;
  staff: StaffStore;
  audit: AuditLog;
  people: PeopleStore;
  retention: RetentionService;
  messenger: () => CentralMessenger;
  log: Logger;
  /** Called after people's credentials changed (badge revoked, site withdrawn, person erased). */
  credentialsChanged?: () => Promise<void>;
}

/** Administration: staff accounts, people and their credentials, retention, the directory. */
export const adminRoutes: FastifyPluginAsync<AdminRoutesOptions> = async (app, options) => {
  const { pool, auth, staff, audit } = options;
  const invitations = new StaffInvitations({ pool, auth, staff, audit, sessions: new SessionStore(pool) });
  await app.register(adminStaffRoutes, { auth, staff, invitations });
  const directory = new PeopleDirectory(pool);
  const admin = new PeopleAdmin({
    pool,
    people: options.people,
    directory,
    messenger: options.messenger,
    log: options.log,
    ...(options.credentialsChanged ? { credentialsChanged: options.credentialsChanged } : {}),
  });
  await app.register(adminPeopleRoutes, {
    directory,
    retention: options.retention,
    admin,
  });
  await app.register(adminCredentialRoutes, {
    admin,
    issuer: auth.settings.issuer,
  });
  await app.register(adminRetentionRoutes, { retention: options.retention });
  await app.register(adminDirectoryRoutes, { pool, directory: new DirectoryStore(pool) });
};
