/**
 * Camera URLs carry credentials only in memory, for ffmpeg's argv. Everything that is logged,
 * stored or emitted passes through here first.
 */
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^\s/@'"]*@/gi;

export const REDACTED = '***';

/** Replaces the user-info part of every URL in `text` and every listed secret. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(USERINFO, `$1${REDACTED}@`);
  for (const secret of secrets) {
    if (secret.length < 3) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) out = out.split(form).join(REDACTED);
  }
  return out;
}

/** A command line as it may appear in a log: arguments redacted and quoted where needed. */
export function redactCommand(
  binary: string,
  args: readonly string[],
  secrets: readonly string[] = [],
): string {
  return [binary, ...args]
    .map((arg) => redact(arg, secrets))
    .map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`))
    .join(' ');
}

/** Puts credentials into an rtsp:// URL that has none, percent-encoding them. */
export function urlWithCredentials(url: string, username?: string, password?: string): string {
  if (!username) return url;
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(username);
  if (password !== undefined) parsed.password = encodeURIComponent(password);
  return parsed.toString();
}
