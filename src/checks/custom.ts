import { messageOf } from '../errors.ts';
import type { CheckContext, CheckResult, CustomCheck } from './contract.ts';

export async function customCheck({ knex }: CheckContext, check: CustomCheck): Promise<CheckResult> {
  const name = `custom:${check.name}`;
  try {
    const outcome = await check.run(knex);
    if (typeof outcome === 'string' && outcome !== '') return { name, ok: false, detail: outcome };
    if (outcome === false) return { name, ok: false, detail: 'returned false' };
    return { name, ok: true, detail: 'ok' };
  } catch (error) {
    return { name, ok: false, detail: messageOf(error) };
  }
}
