import { readFileSync } from 'node:fs';

/** migrate-guard's version, as its package.json says (src/cli and dist/cli are both two levels down). */
export const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;
