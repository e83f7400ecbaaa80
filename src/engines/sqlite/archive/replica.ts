import { GuardError } from '../../../errors.ts';
import { redact, splitCredentials } from '../../../redact.ts';

/**
 * How a replica URL with credentials in it (`s3://KEY:SECRET@bucket/path`) reaches Litestream
 * v0.3.13 without the secret ever being written into `litestream.yml` (or shown in a message):
 * the URL in the file has no password, and the secret goes into Litestream's environment.
 *
 * - s3: the URL's user and password become `LITESTREAM_ACCESS_KEY_ID` / `LITESTREAM_SECRET_ACCESS_KEY`
 *   (Litestream copies them to `AWS_*` unless those are set, so we set `AWS_*` too: the URL's key
 *   must win over one the environment happens to carry). Litestream ignores credentials in an s3 URL.
 * - abs: the user (the account name) stays in the URL, the password (the account key) becomes
 *   `LITESTREAM_AZURE_ACCOUNT_KEY`.
 * - sftp: the user stays in the URL; the password is read by Litestream from `password:` in the
 *   config, which says `${MIGRATE_GUARD_SFTP_PASSWORD}` (Litestream expands environment variables
 *   in its config) as a block scalar, so no character of the password can break the YAML.
 * - any other scheme with a password in it is refused: Litestream v0.3.13 would not use it.
 */
export interface LitestreamReplica {
  /** The URL as the config file may hold it. */
  readonly url: string;
  /** Extra YAML lines of the replica entry (already indented for it). */
  readonly lines: readonly string[];
  /** What Litestream's environment must add. */
  readonly env: Readonly<Record<string, string>>;
}

export const SFTP_PASSWORD_VARIABLE = 'MIGRATE_GUARD_SFTP_PASSWORD';

export function litestreamReplica(replica: string): LitestreamReplica {
  const { url, username, password } = splitCredentials(replica);
  if (username === null && password === null) return { url: replica, lines: [], env: {} };
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(replica)?.[1]?.toLowerCase() ?? '';
  const refuse = (why: string) => new GuardError('USAGE', `archive.replica ${redact(replica)}: ${why}`);
  const withUser = url.replace('://', `://${encodeURIComponent(username ?? '')}@`);
  switch (scheme) {
    case 's3':
      if (!username || password === null)
        throw refuse(
          'an s3 URL needs both the access key id and the secret (s3://KEY:SECRET@bucket/path), or neither (then Litestream reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)',
        );
      return {
        url,
        lines: [],
        env: {
          LITESTREAM_ACCESS_KEY_ID: username,
          LITESTREAM_SECRET_ACCESS_KEY: password,
          AWS_ACCESS_KEY_ID: username,
          AWS_SECRET_ACCESS_KEY: password,
        },
      };
    case 'abs':
      return { url: withUser, lines: [], env: password === null ? {} : { LITESTREAM_AZURE_ACCOUNT_KEY: password } };
    case 'sftp':
      return password === null
        ? { url: withUser, lines: [], env: {} }
        : { url: withUser, lines: ['password: |-', `  \${${SFTP_PASSWORD_VARIABLE}}`], env: { [SFTP_PASSWORD_VARIABLE]: password } };
    default:
      throw refuse(
        `Litestream v0.3.13 takes no credentials in a ${scheme || 'schemeless'} URL; give them the way Litestream documents for that replica type`,
      );
  }
}
