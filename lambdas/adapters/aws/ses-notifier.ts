/**
 * The enclave's notices by email, sent with SES (v2) from the deployment's verified address. Recipients are
 * user ids; a user id that is an email address is mailed, others are resolved by `addressOf` (e.g. a
 * directory), and a user with no address is logged and skipped rather than failing the run's step.
 * The mail holds the run's key, the notice and the link: never file contents or outputs.
 */
import { SendEmailCommand, type SESv2Client } from '@aws-sdk/client-sesv2';
import type { Log } from '../../core/ports.js';
import type { Notifier, RunNotice } from '../../core/runs/ports.js';
import type { Run } from '../../core/runs/run.js';
import { rethrowAwsError } from './clients/errors.js';

const EMAIL = /^[^\s@<>",]+@[^\s@<>",]+\.[^\s@<>",]+$/;

const SUBJECTS: Readonly<Record<RunNotice, string>> = {
  'review-needed': 'waits for your review',
  rejected: 'was rejected',
  withheld: 'outputs were withheld',
  failed: 'failed',
  released: 'outputs are released',
};

/** What the mail calls its link: the reviewers' mail opens the run's review page, the release mail downloads. */
const LINK_LABELS: Readonly<Partial<Record<RunNotice, string>>> = {
  'review-needed': 'Review it',
  released: 'Download (expires)',
};

export interface SesNotifierOptions {
  /** The SES-verified sender, e.g. `carrel <enclave@example.org>`. */
  readonly from: string;
  /** SES configuration set (bounces, complaints). @default - none */
  readonly configurationSet?: string;
  /** A user id's address, when ids are not addresses. @default - ids that are addresses only */
  readonly addressOf?: (userId: string) => string | undefined;
  readonly log: Log;
}

export class SesNotifier implements Notifier {
  constructor(
    private readonly ses: SESv2Client,
    private readonly options: SesNotifierOptions,
  ) {}

  async notify(notice: RunNotice, run: Run, detail: { readonly to: readonly string[]; readonly message: string; readonly link?: string }): Promise<void> {
    const addresses = new Set<string>();
    for (const user of detail.to) {
      const address = EMAIL.test(user) ? user : this.options.addressOf?.(user);
      if (address && EMAIL.test(address)) addresses.add(address);
      else this.options.log.warn('enclave notice not mailed: no address for the user', { notice, runId: run.runId, user });
    }
    if (addresses.size === 0) return;
    const text = [detail.message, ...(detail.link ? ['', `${LINK_LABELS[notice] ?? 'Open'}: ${detail.link}`] : []), '', `Analysis ${run.analysisId}, run ${run.runId}.`].join('\n');
    try {
      await this.ses.send(
        new SendEmailCommand({
          FromEmailAddress: this.options.from,
          // One message per notice; recipients do not see each other.
          Destination: { BccAddresses: [...addresses] },
          Content: { Simple: { Subject: { Data: `carrel run ${run.runId} ${SUBJECTS[notice]}` }, Body: { Text: { Data: text } } } },
          ...(this.options.configurationSet ? { ConfigurationSetName: this.options.configurationSet } : {}),
        }),
      );
    } catch (error) {
      rethrowAwsError(error, `Mailing the ${notice} notice of run ${run.runId}`);
    }
  }
}
