/** The engines `npm run torture -- --engine <name>` runs on: the one place that picks. */
import { postgresTorture } from './postgres-engine.ts';
import { sqliteTorture } from './sqlite-engine.ts';

export const TORTURE_ENGINES = { sqlite: sqliteTorture, postgres: postgresTorture } as const;
