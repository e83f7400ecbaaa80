import type { Knex } from 'knex';

/** Lookup tables the rest of the DMS schema points at. Soft deletes: rows get `deletedAt`. */
export async function up({ context: knex }: { context: Knex }): Promise<void> {
  await knex.schema.createTable('risk_group', (table) => {
    table.increments('id');
    table.string('name').notNullable().unique();
    table.text('description');
    table.decimal('maxAllocation', 5, 2);
    table.timestamp('createdAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('updatedAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('deletedAt').nullable().index();
  });

  await knex.schema.createTable('accounts', (table) => {
    table.increments('id');
    table.string('name').notNullable();
    table.string('broker');
    table.string('accountNumber').unique();
    table.string('currency', 3).notNullable().defaultTo('USD');
    table.timestamp('createdAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('updatedAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('deletedAt').nullable().index();
  });

  await knex.schema.createTable('divDepositType', (table) => {
    table.increments('id');
    table.string('name').notNullable().unique();
    table.text('description');
    table.timestamp('createdAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('updatedAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('deletedAt').nullable();
  });

  await knex.schema.createTable('holidays', (table) => {
    table.increments('id');
    table.date('date').notNullable();
    table.string('exchange').notNullable().defaultTo('NYSE');
    table.string('name').notNullable();
    table.timestamp('createdAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('updatedAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('deletedAt').nullable();
    table.unique(['exchange', 'date']);
  });
}

export async function down({ context: knex }: { context: Knex }): Promise<void> {
  await knex.schema.dropTable('holidays');
  await knex.schema.dropTable('divDepositType');
  await knex.schema.dropTable('accounts');
  await knex.schema.dropTable('risk_group');
}
