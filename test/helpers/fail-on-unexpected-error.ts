import { afterEach } from 'vitest';
import { endOfTest } from './unexpected-errors.ts';

// vitest's setupFiles: after every test, its CLI runs must not have printed "unexpected error".
afterEach(() => endOfTest());
