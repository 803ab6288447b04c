import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { SendEmailCommand, SESv2Client, SESv2ServiceException, TooManyRequestsException, MessageRejected } from '@aws-sdk/client-sesv2';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError } from '../../../lambdas/core/errors.js';
import type { Run } from '../../../lambdas/core/runs/run.js';
import { SesNotifier } from '../../../lambdas/adapters/aws/ses-notifier.js';
import { FakeLog } from '../../support/fakes.js';
import { serviceError, timeoutError } from './sdk-errors.js';

const client = new SESv2Client({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const ses = mockClient(client);
const run = { analysisId: 'demo', runId: 'r1', submittedBy: 'alice@uni.example' } as Run;

function notifier(log = new FakeLog()) {
  return { log, notifier: new SesNotifier(client, { from: 'enclave@uni.example', log, addressOf: (id) => (id === 'rita' ? 'rita@uni.example' : undefined) }) };
}

describe('SesNotifier', () => {
  afterEach(() => ses.reset());

  it('mails the notice from the configured sender, recipients in Bcc, with the link', async () => {
    // Prepare
    ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });

    // Act
    await notifier().notifier.notify('released', run, { to: ['alice@uni.example'], message: 'The outputs of run r1 are released', link: 'https://desk.uni.example/dl?t=x' });

    // Assess
    const input = ses.commandCalls(SendEmailCommand)[0]!.args[0].input;
    assert.equal(input.FromEmailAddress, 'enclave@uni.example');
    assert.deepEqual(input.Destination, { BccAddresses: ['alice@uni.example'] });
    assert.match(input.Content!.Simple!.Subject!.Data!, /r1 outputs are released/);
    assert.match(input.Content!.Simple!.Body!.Text!.Data!, /^Download \(expires\): https:\/\/desk\.uni\.example\/dl\?t=x$/m);
  });

  it("mails reviewers the link to the run's review page, named as such", async () => {
    // Prepare
    ses.on(SendEmailCommand).resolves({ MessageId: 'm-3' });

    // Act
    await notifier().notifier.notify('review-needed', run, { to: ['rita'], message: 'Run r1 of demo waits for code review', link: 'https://desk.uni.example/review/demo/r1' });

    // Assess
    const input = ses.commandCalls(SendEmailCommand)[0]!.args[0].input;
    assert.match(input.Content!.Simple!.Subject!.Data!, /r1 waits for your review/);
    assert.equal(input.Content!.Simple!.Body!.Text!.Data!, ['Run r1 of demo waits for code review', '', 'Review it: https://desk.uni.example/review/demo/r1', '', 'Analysis demo, run r1.'].join('\n'));
  });

  it('resolves user ids through addressOf; a user without an address is logged and skipped, and nobody left means no mail', async () => {
    // Prepare
    ses.on(SendEmailCommand).resolves({ MessageId: 'm-2' });
    const { log, notifier: n } = notifier();

    // Act
    await n.notify('review-needed', run, { to: ['rita', 'rob'], message: 'Run r1 waits for code-review' });
    await n.notify('review-needed', run, { to: ['rob'], message: 'Run r1 waits for code-review' });

    // Assess
    assert.equal(ses.commandCalls(SendEmailCommand).length, 1);
    assert.deepEqual(ses.commandCalls(SendEmailCommand)[0]!.args[0].input.Destination!.BccAddresses, ['rita@uni.example']);
    assert.equal(log.entries.filter((e) => e.level === 'warn').length, 2);
  });

  it('throttling (TooManyRequests), 5xx and timeouts are transient; a rejected message is not', async () => {
    for (const failure of [
      new TooManyRequestsException({ message: 'Maximum sending rate exceeded.', $metadata: { httpStatusCode: 429 } }),
      serviceError(SESv2ServiceException, 'InternalFailure', 500),
      timeoutError(),
    ]) {
      // Prepare
      ses.reset();
      ses.on(SendEmailCommand).rejects(failure);
      // Act + Assess
      await assert.rejects(notifier().notifier.notify('failed', run, { to: ['alice@uni.example'], message: 'x' }), TransientError, failure.name);
    }
    ses.reset();
    ses.on(SendEmailCommand).rejects(new MessageRejected({ message: 'Email address is not verified.', $metadata: { httpStatusCode: 400 } }));
    await assert.rejects(notifier().notifier.notify('failed', run, { to: ['alice@uni.example'], message: 'x' }), MessageRejected);
  });
});
