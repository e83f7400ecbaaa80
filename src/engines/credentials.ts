import { GuardError } from '../errors.ts';

/**
 * A user name or password that does not parse (an unencoded `#`, `?`, `/` or a stray `%`) would be
 * taken for part of the host, path or fragment, and then printed, stored and logged as such,
 * password included: refused, without quoting it.
 */
export function refuseUnparsableCredentials(location: string, source: string): void {
  const url = location.trim();
  const refuse = () =>
    new GuardError(
      'USAGE',
      `${source} has a user name or password that does not parse: percent-encode its special characters (# is %23, ? is %3F, / is %2F, @ is %40, % is %25)`,
    );
  const decodes = (text: string) => {
    try {
      decodeURIComponent(text);
      return true;
    } catch {
      return false;
    }
  };
  if (/^postgres(ql)?:\/\//i.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      // Only when it has credentials: other malformed URLs get the engine's own refusal.
      if (url.includes('@')) throw refuse();
      return;
    }
    if (!decodes(parsed.username) || !decodes(parsed.password)) throw refuse();
    return;
  }
  // sqlite://user:pass@/srv/app.db, file://…: the authority runs to the first `/`.
  const authority = /^(?:sqlite|file):\/\/([^/]*)/i.exec(url)?.[1] ?? '';
  const at = authority.lastIndexOf('@');
  if (at === -1) return;
  const userinfo = authority.slice(0, at);
  if (/[#?]/.test(userinfo) || !decodes(userinfo)) throw refuse();
}
