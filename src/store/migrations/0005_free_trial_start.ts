// When an organization's free trial started: the start of its `days` allowance and of the usage that
// counts against its tokens and requests (src/domain/free-trial.ts). Epoch milliseconds in a bigint,
// like every other timestamp of `organizations`; nullable: null until the trial is first switched on.
// Trials switched on before this migration keep null here and are taken to have started at their
// first use of the platform's key (the earliest `free_trial` usage event); nothing is backfilled.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('organizations').addColumn('free_trial_started_at', 'bigint').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('organizations').dropColumn('free_trial_started_at').execute();
}
