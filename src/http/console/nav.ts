// Every console page the sidebar lists, with the roles that see it (admin sees every one).
// Page helpers add routes for these paths; a page outside a user's role is not shown.
import { type Role, roleAllows } from './guard.ts';

export interface NavItem {
  /** Key a page passes as `active` to renderConsolePage. */
  key: string;
  label: string;
  href: string;
  /** Roles that see it; empty: every signed-in user. */
  roles: readonly Role[];
}

export const NAV: readonly NavItem[] = [
  { key: 'dashboard', label: 'Dashboard', href: '/console', roles: [] },
  { key: 'articles', label: 'Articles', href: '/console/articles', roles: ['editor'] },
  { key: 'campaigns', label: 'Campaigns', href: '/console/campaigns', roles: ['editor'] },
  { key: 'subscribers', label: 'Subscribers', href: '/console/subscribers', roles: ['editor'] },
  { key: 'topics', label: 'Topics', href: '/console/topics', roles: ['editor'] },
  { key: 'digests', label: 'Digests', href: '/console/digests', roles: ['editor'] },
  { key: 'queues', label: 'Queues', href: '/console/queues', roles: ['ops'] },
  { key: 'outbox', label: 'Outbox', href: '/console/outbox', roles: ['ops', 'editor'] },
  { key: 'suppressions', label: 'Suppressions', href: '/console/suppressions', roles: ['ops'] },
  { key: 'health', label: 'Health', href: '/console/health', roles: ['ops'] },
  { key: 'keys', label: 'API keys', href: '/console/keys', roles: ['admin'] },
  { key: 'users', label: 'Users', href: '/console/users', roles: ['admin'] },
  { key: 'api', label: 'API reference', href: '/console/api', roles: [] },
];

/** The nav items a role sees, in order. */
export function navFor(role: Role): NavItem[] {
  return NAV.filter((item) => roleAllows(role, item.roles));
}
