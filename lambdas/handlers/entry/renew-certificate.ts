/**
 * Lambda entry point: renew the gates' `*.<desk domain>` certificate with ACME DNS-01 on Route 53 (daily
 * EventBridge schedule, and once at deploy through the `Custom::CarrelGateCertificate` custom resource).
 * See lambdas/handlers/renew-certificate.ts and README ("The gate certificate").
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { systemClock } from '../../core/index.js';
import { AcmeDns01Authority } from '../../adapters/acme-dns01.js';
import { route53Client } from '../../adapters/aws/clients/route53.js';
import { secretsManagerClient } from '../../adapters/aws/clients/secrets-manager.js';
import { Route53ChallengeRecords } from '../../adapters/aws/route53-challenges.js';
import { SecretsManagerAccountKey, SecretsManagerCertificateStore } from '../../adapters/aws/secrets-manager-certificates.js';
import { powertoolsLog } from '../powertools-log.js';
import { loadRenewCertificateConfig, makeRenewCertificateHandler, respondToCloudFormation } from '../renew-certificate.js';

const logger = new Logger();
const log = powertoolsLog(logger);
const config = loadRenewCertificateConfig();
const secrets = secretsManagerClient();

const renew = makeRenewCertificateHandler(
  {
    store: new SecretsManagerCertificateStore(secrets, config.certificateSecretArn),
    authority: new AcmeDns01Authority({
      directoryUrl: config.directoryUrl,
      ...(config.contactEmail ? { email: config.contactEmail } : {}),
      accountKey: new SecretsManagerAccountKey(secrets, config.accountKeySecretArn),
      records: new Route53ChallengeRecords(route53Client(), { hostedZoneId: config.hostedZoneId }),
      log,
    }),
    clock: systemClock,
    log,
    respond: respondToCloudFormation,
  },
  config,
);

export const handler = async (event: unknown, context?: Context) => {
  if (context) logger.addContext(context);
  return renew(event);
};
