/**
 * Locations as people read them and as files store them. A database URL (`DATABASE_URL`) or a
 * replica URL (`archive.replica`) may carry a password (`postgres://user:pass@host/db`,
 * `s3://KEY:SECRET@bucket/path`) or a secret query parameter (`?password=…`, `?sig=…`); whatever
 * prints or stores a location passes it through `redact`, and free text that may quote one (an
 * error message, a log line) through `redactText`. Generic for URLs of any scheme; a plain path
 * comes back as it was.
 */

export const REDACTED = '***';

/** Query parameters whose value is a secret. */
const SECRET_PARAMETER =
  /^(password|passwd|pass|pwd|secret|token|sig|signature|credential|sslpassword|(.*[_-])?(key|secret|token|password))$/i;

interface ParsedUrl {
  /** `scheme://` */
  readonly prefix: string;
  /** The part before the last `@` of the authority, or null when there is none. */
  readonly userinfo: string | null;
  /** Host, path, query and fragment: everything after the userinfo. */
  readonly rest: string;
}

/**
 * `scheme://[userinfo@]rest`. The userinfo runs to the last `@` before any `?` or `#`, so a
 * secret written with an unencoded `/` or `@` (AWS secret keys have `/`) is still recognised; a
 * path that happens to contain `@` is not taken for one, because a user name never has a `/`.
 */
function parse(url: string): ParsedUrl | null {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]+:\/\/)(.*)$/s.exec(url);
  if (!match) return null;
  const prefix = match[1]!;
  const after = match[2]!;
  const end = after.search(/[?#]/);
  const at = (end === -1 ? after : after.slice(0, end)).lastIndexOf('@');
  if (at === -1) return { prefix, userinfo: null, rest: after };
  const userinfo = after.slice(0, at);
  const user = userinfo.split(':', 1)[0]!;
  if (user.includes('/')) return { prefix, userinfo: null, rest: after };
  return { prefix, userinfo, rest: after.slice(at + 1) };
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** `?a=1&password=x` → `?a=1&password=***`; everything else as written. */
function redactQuery(rest: string): string {
  const start = rest.indexOf('?');
  if (start === -1) return rest;
  const hash = rest.indexOf('#', start);
  const query = rest.slice(start + 1, hash === -1 ? undefined : hash);
  const redacted = query
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      if (equals === -1) return pair;
      return SECRET_PARAMETER.test(decode(pair.slice(0, equals))) ? `${pair.slice(0, equals)}=${REDACTED}` : pair;
    })
    .join('&');
  return `${rest.slice(0, start + 1)}${redacted}${hash === -1 ? '' : rest.slice(hash)}`;
}

/**
 * The location with its password and secret query parameters replaced by `***`; the user name,
 * host and path stay, so people still see which database or bucket it is.
 */
export function redact(location: string): string {
  const parsed = parse(location);
  if (!parsed) return location;
  let userinfo = '';
  if (parsed.userinfo !== null) {
    const colon = parsed.userinfo.indexOf(':');
    userinfo = colon === -1 ? `${parsed.userinfo}@` : `${parsed.userinfo.slice(0, colon)}:${REDACTED}@`;
  }
  return `${parsed.prefix}${userinfo}${redactQuery(parsed.rest)}`;
}

/** Every URL in a text through `redact` (error messages, log lines, reports). */
export function redactText(text: string): string {
  return text.replace(/[a-zA-Z][a-zA-Z0-9+.-]+:\/\/[^\s"'<>`]+/g, (url) => redact(url));
}

export interface UrlCredentials {
  /** The URL without its userinfo: what a tool's configuration file may hold. */
  readonly url: string;
  readonly username: string | null;
  readonly password: string | null;
}

/** Takes the user name and password out of a URL (decoded), for a tool that wants them elsewhere. */
export function splitCredentials(location: string): UrlCredentials {
  const parsed = parse(location);
  if (!parsed || parsed.userinfo === null) return { url: location, username: null, password: null };
  const colon = parsed.userinfo.indexOf(':');
  return {
    url: `${parsed.prefix}${parsed.rest}`,
    username: decode(colon === -1 ? parsed.userinfo : parsed.userinfo.slice(0, colon)),
    password: colon === -1 ? null : decode(parsed.userinfo.slice(colon + 1)),
  };
}
