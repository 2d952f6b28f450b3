// The time zones the public pages offer, by their current IANA names. Node 20's ICU lists some
// zones under names IANA retired (CLDR keeps the old ones stable): readers look for Kolkata and
// Kyiv, not Calcutta and Kiev. Both spellings name the same zone for Intl.

/** Old ICU/CLDR name → current IANA name, for the zones ICU still lists under the old one. */
export const CANONICAL_ZONE: Readonly<Record<string, string>> = {
  'Africa/Asmera': 'Africa/Asmara',
  'America/Buenos_Aires': 'America/Argentina/Buenos_Aires',
  'America/Catamarca': 'America/Argentina/Catamarca',
  'America/Coral_Harbour': 'America/Atikokan',
  'America/Cordoba': 'America/Argentina/Cordoba',
  'America/Godthab': 'America/Nuuk',
  'America/Indianapolis': 'America/Indiana/Indianapolis',
  'America/Jujuy': 'America/Argentina/Jujuy',
  'America/Louisville': 'America/Kentucky/Louisville',
  'America/Mendoza': 'America/Argentina/Mendoza',
  'Asia/Calcutta': 'Asia/Kolkata',
  'Asia/Katmandu': 'Asia/Kathmandu',
  'Asia/Rangoon': 'Asia/Yangon',
  'Asia/Saigon': 'Asia/Ho_Chi_Minh',
  'Atlantic/Faeroe': 'Atlantic/Faroe',
  'Europe/Kiev': 'Europe/Kyiv',
  'Pacific/Enderbury': 'Pacific/Kanton',
  'Pacific/Ponape': 'Pacific/Pohnpei',
  'Pacific/Truk': 'Pacific/Chuuk',
};

/** The current IANA name of a zone (itself when it is not an old alias). */
export function canonicalZone(zone: string): string {
  return CANONICAL_ZONE[zone] ?? zone;
}

/** Every zone the runtime knows, by current name, sorted, UTC first. */
export function publicZones(): string[] {
  const names = new Set(Intl.supportedValuesOf('timeZone').map(canonicalZone));
  names.delete('UTC');
  return ['UTC', ...[...names].sort()];
}
