import type { Analysis } from '../lambdas/core/index.js';

/** The demo a fresh local deployment starts with (idempotent: seeding again changes nothing). */
export const DEMO_ANALYSES: readonly Analysis[] = [
  { analysisId: 'demo', title: 'Demo analysis', members: ['alice', 'bob'], tool: 'jupyter', size: 'small' },
  { analysisId: 'census-2021', title: 'Census 2021 linkage', members: ['bob'], tool: 'jupyter', size: 'small' },
];

export const DEMO_USERS = [
  { userId: 'alice', name: 'Alice Researcher', roles: ['researcher'] },
  { userId: 'bob', name: 'Bob Researcher', roles: ['researcher'] },
  { userId: 'rita', name: 'Rita Reviewer', roles: ['reviewer'] },
  { userId: 'pat', name: 'Pat Admin', roles: ['admin'] },
] as const;
