import type { Knex } from 'knex';

/** The investable universe (each symbol in a risk group) and the screener's scores for it. */
export async function up({ context: knex }: { context: Knex }): Promise<void> {
  await knex.schema.createTable('universe', (table) => {
    table.increments('id');
    table.string('symbol').notNullable().unique();
    table.string('name');
    table.string('exchange');
    table.string('sector').index();
    table.integer('riskGroupId').unsigned().references('id').inTable('risk_group').onDelete('RESTRICT');
    table.string('dividendFrequency');
    table.timestamp('createdAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('updatedAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('deletedAt').nullable().index();
    table.index(['riskGroupId']);
  });

  await knex.schema.createTable('screener', (table) => {
    table.increments('id');
    table.integer('universeId').unsigned().notNullable().references('id').inTable('universe').onDelete('CASCADE');
    table.decimal('score', 8, 4);
    table.decimal('peRatio', 10, 4);
    table.decimal('dividendYield', 8, 4);
    table.decimal('payoutRatio', 8, 4);
    table.date('screenedAt').notNullable();
    table.timestamp('createdAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('updatedAt').notNullable().defaultTo(knex.fn.now());
    table.timestamp('deletedAt').nullable();
    table.index(['universeId', 'screenedAt']);
  });
}

export async function down({ context: knex }: { context: Knex }): Promise<void> {
  await knex.schema.dropTable('screener');
  await knex.schema.dropTable('universe');
}
