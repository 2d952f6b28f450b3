// Opens Herald's store the way every process and test does: migrated, and holding every topic
// of the catalogue file (added when missing, edited rows kept), so a fresh install accepts
// subscribers to catalogue topics before any article is ingested.
import type { DatabaseTarget } from '../config/index.ts';
import { type OpenStoreOptions, openStore, type Store } from '../store/db.ts';
import { ensureCatalogue } from './catalogue.ts';

/** openStore with the topic catalogue as its seed. */
export function openHeraldStore(
  target: DatabaseTarget,
  options: Omit<OpenStoreOptions, 'seed'> = {},
): Promise<Store> {
  return openStore(target, { ...options, seed: (db) => ensureCatalogue(db) });
}
