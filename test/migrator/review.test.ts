import { describe, expect, it } from 'vitest';
import { allowedBy, parseReview, ROWS_SHRUNK } from '../../src/migrator/review.ts';
import { thrownBy } from '../helpers/errors.ts';

describe('a migration review', () => {
  it('reads rule ids, for every table or for the tables named', () => {
    expect(parseReview('m', undefined)).toEqual({ allow: [] });
    expect(parseReview('m', { allow: ['rows-shrunk', { rule: 'rows-shrunk', tables: ['a'] }, { rule: 'other' }] })).toEqual({
      allow: [
        { rule: 'rows-shrunk', tables: null },
        { rule: 'rows-shrunk', tables: ['a'] },
        { rule: 'other', tables: null },
      ],
    });
  });

  it('refuses a review it cannot read, in one line naming the migration and the shape to write', () => {
    const error = thrownBy(() => parseReview('002_cleanup', { allow: 'rows-shrunk' }));
    expect(error.code).toBe('USAGE');
    expect(error.exitCode).toBe(1);
    expect(error.message).toContain('migration 002_cleanup exports a review migrate-guard cannot read');
    expect(error.message).toContain("{ allow: ['rows-shrunk'] }");
    expect(error.message).not.toContain('\n');
    expect(() => parseReview('m', { allow: [{ rule: 'rows-shrunk', tables: 'a' }] })).toThrow();
  });

  it('allows a rule only for the migrations that ran, and only on their tables', () => {
    const reviews = new Map([
      ['001_all', parseReview('001_all', { allow: ['rows-shrunk'] })],
      ['002_some', parseReview('002_some', { allow: [{ rule: 'rows-shrunk', tables: ['sessions'] }] })],
    ]);
    expect(allowedBy(reviews, ['001_all'], ROWS_SHRUNK, 'anything')).toBe('001_all');
    expect(allowedBy(reviews, ['002_some'], ROWS_SHRUNK, 'sessions')).toBe('002_some');
    expect(allowedBy(reviews, ['002_some'], ROWS_SHRUNK, 'users')).toBeNull();
    expect(allowedBy(reviews, [], ROWS_SHRUNK, 'sessions')).toBeNull();
    expect(allowedBy(reviews, ['001_all'], 'other-rule', 'sessions')).toBeNull();
  });
});
