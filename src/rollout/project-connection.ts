import { GuardError, messageOf } from '../errors.ts';
import { projectConnection } from '../migrator/project-umzug.ts';
import type { Run } from './run.ts';

/**
 * A project Umzug runs its migrations on its own connection, which migrate-guard does not open:
 * sequelize, for one, opens SQLite with foreign keys enforced, and then the usual table rebuild
 * (create, copy, DROP, rename) deletes every row pointing at the rebuilt table. Where the
 * Umzug's context reaches that connection, it is read before anything changes; a connection whose
 * drops cascade is refused with the two lines that fix it, unless the config says the project
 * turns them off around `up()` itself. Out of reach, the rows check is what guards the run.
 */
export async function assertProjectConnectionSafe(run: Run): Promise<void> {
  if (run.source.kind !== 'umzug' || run.config.umzugHandlesForeignKeys) return;
  const connection = await projectConnection(run.source.umzug).catch(() => null);
  if (connection === null) return;
  let cascades: Awaited<ReturnType<typeof run.engine.dropCascades>>;
  try {
    cascades = await run.engine.dropCascades(connection.reader);
  } catch (error) {
    // A context on another database (or none the engine can read): nothing to say about this one.
    run.emit({ type: 'warning', message: `could not read how the project Umzug's connection treats foreign keys: ${messageOf(error)}` });
    return;
  }
  if (cascades === null) return;
  const { call } = connection;
  const wrapper = `umzug.on('beforeCommand', () => ${call}('${cascades.off}')); umzug.on('afterCommand', () => ${call}('${cascades.on}'));`;
  throw new GuardError(
    'PREFLIGHT_FAILED',
    `the project Umzug's connection enforces foreign keys, so a migration that rebuilds a table would delete every row pointing at it (ON DELETE CASCADE); nothing was changed: in ${run.config.umzug ?? 'the Umzug module'} add ${wrapper} and set umzugHandlesForeignKeys: true in the config`,
  );
}
