import type { Credential } from './door-ports.js';

/**
 * Vetting prerequisites of ident specialists: a background check and a security training, each
 * valid for a configured number of days. A lapsed one denies entry; one about to lapse is warned
 * about ahead of time.
 */
export interface ComplianceSettings {
  /** Maximum age in days; absent means the site does not require it. */
  backgroundCheckMaxDays?: number;
  trainingMaxDays?: number;
  /** Warn this many days before a requirement lapses. */
  warnDays: number;
}

export type Requirement = 'background-check' | 'security-training';

export interface RequirementStatus {
  requirement: Requirement;
  /** Last day on which the requirement is still met (YYYY-MM-DD), or undefined when never met. */
  expiresOn?: string;
  state: 'ok' | 'expiring' | 'lapsed';
  daysLeft: number;
}

const DAY_MS = 86_400_000;

function dayNumber(day: string): number {
  return Math.floor(Date.parse(`${day}T00:00:00Z`) / DAY_MS);
}

function dayString(dayNo: number): string {
  return new Date(dayNo * DAY_MS).toISOString().slice(0, 10);
}

export function complianceStatus(
  credential: Pick<Credential, 'backgroundCheckOn' | 'trainingOn'>,
  settings: ComplianceSettings,
  nowMs: number,
): RequirementStatus[] {
  const today = Math.floor(nowMs / DAY_MS);
  const checks: Array<{ requirement: Requirement; on?: string; maxDays?: number }> = [
    {
      requirement: 'background-check',
      on: credential.backgroundCheckOn,
      maxDays: settings.backgroundCheckMaxDays,
    },
    { requirement: 'security-training', on: credential.trainingOn, maxDays: settings.trainingMaxDays },
  ];
  const result: RequirementStatus[] = [];
  for (const { requirement, on, maxDays } of checks) {
    if (maxDays === undefined) continue;
    if (!on || Number.isNaN(dayNumber(on))) {
      result.push({ requirement, state: 'lapsed', daysLeft: 0 });
      continue;
    }
    const lastDay = dayNumber(on) + maxDays;
    const daysLeft = lastDay - today;
    const state = daysLeft < 0 ? 'lapsed' : daysLeft <= settings.warnDays ? 'expiring' : 'ok';
    result.push({ requirement, expiresOn: dayString(lastDay), state, daysLeft: Math.max(0, daysLeft) });
  }
  return result;
}

export function isCompliant(
  credential: Pick<Credential, 'backgroundCheckOn' | 'trainingOn'>,
  settings: ComplianceSettings,
  nowMs: number,
): boolean {
  return complianceStatus(credential, settings, nowMs).every((s) => s.state !== 'lapsed');
}

export interface ComplianceWarning {
  person: string;
  requirement: Requirement;
  expiresOn: string;
  daysLeft: number;
}

/** One warning per person and requirement that is about to lapse (several badges of one person count once). */
export function complianceWarnings(
  credentials: Iterable<Credential>,
  settings: ComplianceSettings,
  nowMs: number,
): ComplianceWarning[] {
  const seen = new Set<string>();
  const warnings: ComplianceWarning[] = [];
  for (const credential of credentials) {
    if (credential.status !== 'active') continue;
    for (const status of complianceStatus(credential, settings, nowMs)) {
      const key = `${credential.person}/${status.requirement}`;
      if (status.state !== 'expiring' || !status.expiresOn || seen.has(key)) continue;
      seen.add(key);
      warnings.push({
        person: credential.person,
        requirement: status.requirement,
        expiresOn: status.expiresOn,
        daysLeft: status.daysLeft,
      });
    }
  }
  return warnings;
}
