/** Route 53 workspace hostnames (see aws-wiring.ts WorkspaceKit). */
import { Route53Hostnames } from '../../adapters/aws/route53-hostnames.js';
import { route53Client } from '../../adapters/aws/clients/route53.js';
import type { WorkspaceKit } from '../aws-wiring.js';

export function route53Hostnames(route53: typeof route53Client = route53Client): NonNullable<WorkspaceKit['hostnames']> {
  return (hostnames, { config }) =>
    new Route53Hostnames(route53(), { hostedZoneId: hostnames.hostedZoneId, deskDomain: config.deskDomain, ttlSeconds: hostnames.ttlSeconds });
}
