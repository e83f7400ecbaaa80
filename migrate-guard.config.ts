import { defineConfig } from 'migrate-guard';

// The DMS application's rollout guard. Every key is optional; see README "Configuration".
export default defineConfig({
  checks: {
    integrity: 'full',
    foreignKeys: true,
    // The seed's smoke query, plus one per table the app reads at start-up.
    smoke: [
      'SELECT COUNT(*) FROM universe',
      'SELECT COUNT(*) FROM accounts WHERE deletedAt IS NULL',
      'SELECT COUNT(*) FROM trades',
      'SELECT COUNT(*) FROM divDeposits',
    ],
  },
  hooks: {
    // e.g. beforeMigrate: 'pm2 stop dms-server', afterMigrate: 'pm2 start dms-server',
    // onFailure: 'curl -fsS -X POST "$ALERT_URL" -d "migrate failed: $MIGRATE_GUARD_ERROR"',
  },
  thresholds: { freeSpaceFactor: 2 },
});
