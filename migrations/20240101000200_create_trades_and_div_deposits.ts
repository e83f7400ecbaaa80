import type { Knex } from 'knex';

/** What happened in each account: trades, and dividends deposited per symbol. */
export async function up({ context: knex }: { context: Knex }): Promise<void> {
  await knex.schema.createTable('trades', (table) => {
    table.increments('id');
    table.integer('accountId').unsigned().notNullable().references('id').inTable('accounts').onDelete('RESTRICT');
    table.integer('universeId').unsigned().notNullable().references('id').inTable('universe').onDelete('RESTRICT');
    table.enu('side', ['buy', 'sell']).notNullable();
    table.decimal('quantity', 18, 6).notNullable();
    table.decimal('price', 18, 6).notNullable();
    table.decimal('fees', 18, 6).notNullable().defaultTo(0);
    table.date('tradeDate').notNullable();
    table.text('note');
    table.timestamp('createdAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('updatedAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('deletedAt').nullable();
    table.index(['accountId', 'tradeDate']);
    table.index(['universeId']);
  });

  await knex.schema.createTable('divDeposits', (table) => {
    table.increments('id');
    table.integer('accountId').unsigned().notNullable().references('id').inTable('accounts').onDelete('RESTRICT');
    table.integer('divDepositTypeId').unsigned().notNullable().references('id').inTable('divDepositType').onDelete('RESTRICT');
    table.integer('universeId').unsigned().references('id').inTable('universe').onDelete('RESTRICT');
    table.decimal('amount', 18, 6).notNullable();
    table.date('depositDate').notNullable();
    table.text('note');
    table.timestamp('createdAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('updatedAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('deletedAt').nullable();
    table.index(['accountId', 'depositDate']);
    table.index(['universeId']);
    table.index(['divDepositTypeId']);
  });
}

export async function down({ context: knex }: { context: Knex }): Promise<void> {
  await knex.schema.dropTable('divDeposits');
  await knex.schema.dropTable('trades');
}
