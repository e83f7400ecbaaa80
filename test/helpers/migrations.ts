/** Sources of small migrations the tests write into a temp project's migrations folder. */

export const createItems = `
export async function up({ context }) {
  await context.schema.createTable('items', (t) => { t.increments('id'); t.string('name').notNullable(); });
  await context('items').insert([{ name: 'alpha' }, { name: 'beta' }]);
}
export async function down({ context }) { await context.schema.dropTable('items'); }
`;

export const addItem = (name: string) => `
export async function up({ context }) { await context('items').insert({ name: '${name}' }); }
export async function down({ context }) { await context('items').where({ name: '${name}' }).delete(); }
`;

/** Changes the database for real (outside a transaction), then fails: only the backup can undo it. */
export const partialThenThrow = `
export const config = { transaction: false };
export async function up({ context }) {
  await context.schema.createTable('half_done', (t) => { t.increments('id'); });
  await context('items').insert({ name: 'should-vanish' });
  await context('items').where({ name: 'alpha' }).update({ name: 'ALPHA-CHANGED' });
  throw new Error('boom: the deploy script had a bug');
}
`;

/** Leaves an orphan row behind (foreign keys are not enforced while migrating, as in knex). */
export const orphanRow = `
export async function up({ context }) {
  await context.schema.createTable('tags', (t) => {
    t.increments('id');
    t.integer('itemId').notNullable().references('id').inTable('items');
  });
  await context('tags').insert({ itemId: 999 });
}
`;

/**
 * A long data migration: commits a row, then (with HANG=1) writes a marker file and keeps writing
 * in batches for up to `seconds`, which gives a test time to kill or signal the run mid-migration.
 */
export const insertThenHang = (marker: string, seconds = 60) => `
import { writeFileSync } from 'node:fs';
export const config = { transaction: false };
export async function up({ context }) {
  await context('items').insert({ name: 'from-hanging-migration' });
  if (process.env.HANG !== '1') return;
  await context.schema.createTable('batches', (t) => { t.increments('id'); });
  writeFileSync(${JSON.stringify(marker)}, String(process.pid));
  const deadline = Date.now() + ${seconds} * 1000;
  while (Date.now() < deadline) {
    await context('batches').insert({});
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await context.schema.dropTable('batches');
}
`;

/** Changes the database inside the run's transaction, then fails: a rollback undoes all of it. */
export const changeThenThrow = `
export async function up({ context }) {
  await context.schema.createTable('half_done', (t) => { t.increments('id'); });
  await context('items').insert({ name: 'should-vanish' });
  await context('items').where({ name: 'alpha' }).update({ name: 'ALPHA-CHANGED' });
  throw new Error('boom: the deploy script had a bug');
}
`;

/**
 * Inserts a row, writes `marker` (the run holds its lock now), then waits in the migration until
 * `release` exists (at most 60 s), so a test can start a second run meanwhile.
 */
export const waitUntilReleased = (marker: string, release: string) => `
import { existsSync, writeFileSync } from 'node:fs';
export async function up({ context }) {
  await context('items').insert({ name: 'from-waiting-migration' });
  writeFileSync(${JSON.stringify(marker)}, String(process.pid));
  const deadline = Date.now() + 60_000;
  while (!existsSync(${JSON.stringify(release)}) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}
`;

/** A migration in knex's own CommonJS style: `exports.up = function (knex)`, creating `table`, then `then`. */
export const knexMigration = (table: string, columns: string, then = '') => `exports.up = async function (knex) {
  await knex.schema.createTable('${table}', (t) => { t.increments('id'); ${columns} });
  ${then}
};
exports.down = function (knex) {
  return knex.schema.dropTable('${table}');
};
`;
