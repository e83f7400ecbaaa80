import type { Knex } from 'knex';
import { SqliteConnection } from '../db.ts';
import type { ChecksConfig } from '../config.ts';
import type { CheckResult } from './contract.ts';
import { integrityCheck } from './integrity.ts';
import { foreignKeyCheck } from './foreign-keys.ts';
import { defaultSmokeQueries, smokeQueries } from './smoke.ts';
import { customCheck } from './custom.ts';

export interface RunChecksOptions {
  readonly database: string;
  readonly knex: Knex;
  readonly checks: ChecksConfig;
  readonly onCheck?: (result: CheckResult) => void;
}

/**
 * The post-migration checks, in order of cost to the operator: structure first (integrity, foreign
 * keys), then whether the application's queries still run (smoke), then the project's own checks.
 * All of them run even after one fails, so the report shows the whole picture.
 */
export async function runChecks(options: RunChecksOptions): Promise<CheckResult[]> {
  const connection = await SqliteConnection.open(options.database, 'readonly');
  const context = { connection, knex: options.knex };
  const results: CheckResult[] = [];
  const record = (result: CheckResult) => {
    results.push(result);
    options.onCheck?.(result);
  };
  try {
    if (options.checks.integrity !== 'off') {
      const integrity = await integrityCheck(connection, options.checks.integrity);
      record({ name: `integrity (${options.checks.integrity})`, ...integrity });
    }
    if (options.checks.foreignKeys) record(await foreignKeyCheck(context));
    const queries = options.checks.smoke ?? (await defaultSmokeQueries(context));
    record(await smokeQueries(context, queries));
    for (const check of options.checks.custom) record(await customCheck(context, check));
  } finally {
    await connection.close();
  }
  return results;
}

export type { CheckResult, CustomCheck } from './contract.ts';
