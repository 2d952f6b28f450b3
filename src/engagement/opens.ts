// Whether an open is a reader or a machine: mail providers' image proxies and privacy
// prefetches (Apple Mail Privacy Protection) fetch every image, read or not, most of them
// right after delivery. Those opens are counted apart ("machine"), never as readers.
import type { EngagementKind } from '../store/schema-engagement.ts';

/**
 * User agents of known image proxies and prefetchers: Gmail's GoogleImageProxy, Yahoo's
 * YahooMailProxy, Apple's prefetch (a bare `Mozilla/5.0` with nothing after it), and the
 * link and image scanners of mail security gateways.
 */
const MACHINE_AGENTS = [
  /GoogleImageProxy/i,
  /YahooMailProxy/i,
  /^Mozilla\/5\.0$/,
  /ggpht\.com/i,
  /Mimecast/i,
  /Barracuda/i,
  /Proofpoint/i,
  /Microsoft Office Protection|SafeLinks/i,
];

/** Whether a user agent is a known mail proxy or scanner (an empty one counts too). */
export function isMachineAgent(userAgent: string | undefined): boolean {
  const agent = (userAgent ?? '').trim();
  return agent === '' || MACHINE_AGENTS.some((pattern) => pattern.test(agent));
}

/**
 * Classifies one fetch of the open image: `machine-open` when a known proxy fetched it or it
 * came within `machineSeconds` of the message's delivery (the ledger's sent time), else `open`.
 */
export function classifyOpen(input: {
  userAgent: string | undefined;
  sentAt: string | null;
  at: Date;
  machineSeconds: number;
}): Extract<EngagementKind, 'open' | 'machine-open'> {
  if (isMachineAgent(input.userAgent)) return 'machine-open';
  if (input.sentAt) {
    const sent = Date.parse(input.sentAt);
    if (!Number.isNaN(sent) && input.at.getTime() - sent < input.machineSeconds * 1000) {
      return 'machine-open';
    }
  }
  return 'open';
}
