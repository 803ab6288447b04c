import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  InvalidChangeBatch,
  ListResourceRecordSetsCommand,
  NoSuchHostedZone,
  PriorRequestNotComplete,
  Route53Client,
  Route53ServiceException,
} from '@aws-sdk/client-route-53';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError } from '../../../lambdas/core/errors.js';
import { ChallengeRecordError, Route53ChallengeRecords } from '../../../lambdas/adapters/aws/route53-challenges.js';
import { connectionReset, internalError, serviceError, timeoutError } from './sdk-errors.js';

const ZONE = 'Z0123456789ABCDEFGHIJ';
const NAME = '_acme-challenge.desk.example.org';
const VALUE = 'a1B2-c3D4_e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u';
const OTHER = 'zZyYxXwWvVuUtTsSrRqQpPoOnNmMlLkKjJiIhHgGfFe';

const client = new Route53Client({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const route53 = mockClient(client);

function records(options: { maxWaitMs?: number } = {}) {
  const slept: number[] = [];
  const adapter = new Route53ChallengeRecords(client, { hostedZoneId: `/hostedzone/${ZONE}`, pollMs: 1000, sleep: async (ms) => void slept.push(ms), ...options });
  return { adapter, slept };
}

const txt = (...values: string[]) => ({ Name: `${NAME}.`, Type: 'TXT' as const, TTL: 60, ResourceRecords: values.map((v) => ({ Value: `"${v}"` })) });
const listing = (...values: string[]) => ({ ResourceRecordSets: values.length ? [txt(...values)] : [], IsTruncated: false, MaxItems: 1 });
const CHANGE = { ChangeInfo: { Id: '/change/C1', Status: 'PENDING' as const, SubmittedAt: new Date('2030-01-01T09:00:00Z') } };
const inSync = { ChangeInfo: { ...CHANGE.ChangeInfo, Status: 'INSYNC' as const } };
const meta = { $metadata: { httpStatusCode: 400 } };
const throttling = () => serviceError(Route53ServiceException, 'Throttling', 400, 'Rate exceeded');

describe('Route53ChallengeRecords', () => {
  afterEach(() => route53.reset());

  it('add CREATEs the TXT value and waits until the change is INSYNC', async () => {
    // Prepare
    route53.on(ListResourceRecordSetsCommand).resolves(listing());
    route53.on(ChangeResourceRecordSetsCommand).resolves(CHANGE);
    route53.on(GetChangeCommand).resolvesOnce(CHANGE).resolvesOnce(CHANGE).resolves(inSync);
    const { adapter, slept } = records();
    // Act
    await adapter.add(NAME, VALUE);
    // Assess
    const [change] = route53.commandCalls(ChangeResourceRecordSetsCommand);
    assert.deepEqual(change!.args[0].input, {
      HostedZoneId: ZONE,
      ChangeBatch: { Comment: 'carrel ACME DNS-01 challenge', Changes: [{ Action: 'CREATE', ResourceRecordSet: txt(VALUE) }] },
    });
    assert.deepEqual(route53.commandCalls(ListResourceRecordSetsCommand)[0]!.args[0].input, { HostedZoneId: ZONE, StartRecordName: `${NAME}.`, StartRecordType: 'TXT', MaxItems: 1 });
    assert.equal(route53.commandCalls(GetChangeCommand).length, 3);
    assert.deepEqual(route53.commandCalls(GetChangeCommand)[0]!.args[0].input, { Id: '/change/C1' });
    assert.deepEqual(slept, [1000, 1000]);
  });

  it("add keeps another run's value: DELETE the exact values read + CREATE both, in one batch", async () => {
    // Prepare
    route53.on(ListResourceRecordSetsCommand).resolves(listing(OTHER));
    route53.on(ChangeResourceRecordSetsCommand).resolves(CHANGE);
    route53.on(GetChangeCommand).resolves(inSync);
    // Act
    await records().adapter.add(NAME, VALUE);
    // Assess
    assert.deepEqual(route53.commandCalls(ChangeResourceRecordSetsCommand)[0]!.args[0].input.ChangeBatch!.Changes, [
      { Action: 'DELETE', ResourceRecordSet: txt(OTHER) },
      { Action: 'CREATE', ResourceRecordSet: txt(OTHER, VALUE) },
    ]);
  });

  it('a batch refused because the record changed meanwhile is read and tried again', async () => {
    // Prepare
    route53.on(ListResourceRecordSetsCommand).resolvesOnce(listing()).resolves(listing(OTHER));
    route53
      .on(ChangeResourceRecordSetsCommand)
      .rejectsOnce(new InvalidChangeBatch({ message: 'x', messages: [`Tried to create resource record set [name='${NAME}.', type='TXT'] but it already exists`], ...meta }))
      .resolves(CHANGE);
    route53.on(GetChangeCommand).resolves(inSync);
    // Act
    await records().adapter.add(NAME, VALUE);
    // Assess
    const calls = route53.commandCalls(ChangeResourceRecordSetsCommand);
    assert.equal(calls.length, 2);
    assert.deepEqual(calls[1]!.args[0].input.ChangeBatch!.Changes!.map((c) => c.Action), ['DELETE', 'CREATE']);
  });

  it('a record that keeps changing gives up with a TransientError after 5 attempts', async () => {
    // Prepare
    route53.on(ListResourceRecordSetsCommand).resolves(listing(OTHER));
    route53
      .on(ChangeResourceRecordSetsCommand)
      .rejects(new InvalidChangeBatch({ message: 'x', messages: ['Tried to delete resource record set [...] but the values provided do not match the current values'], ...meta }));
    // Act + Assess
    await assert.rejects(records().adapter.add(NAME, VALUE), (e: Error) => e instanceof TransientError && /kept changing \(5 attempts\)/.test(e.message));
    assert.equal(route53.commandCalls(ChangeResourceRecordSetsCommand).length, 5);
  });

  it('a change not INSYNC within maxWaitMs is a TransientError that names the change', async () => {
    // Prepare
    route53.on(ListResourceRecordSetsCommand).resolves(listing());
    route53.on(ChangeResourceRecordSetsCommand).resolves(CHANGE);
    route53.on(GetChangeCommand).resolves(CHANGE);
    // Act + Assess
    await assert.rejects(records({ maxWaitMs: 5000 }).adapter.add(NAME, VALUE), (e: Error) => e instanceof TransientError && /not in sync .* after 5 s \(change \/change\/C1\)/.test(e.message));
    assert.equal(route53.commandCalls(GetChangeCommand).length, 6);
  });

  it('an already published value is not published again', async () => {
    // Prepare
    route53.on(ListResourceRecordSetsCommand).resolves(listing(VALUE));
    // Act
    await records().adapter.add(NAME, VALUE);
    // Assess
    assert.equal(route53.commandCalls(ChangeResourceRecordSetsCommand).length, 0);
  });

  it("remove takes only its own value away (another run's stays), and DELETEs the record with the last value", async () => {
    // Prepare
    route53.on(ListResourceRecordSetsCommand).resolvesOnce(listing(OTHER, VALUE)).resolvesOnce(listing(VALUE)).resolves(listing());
    route53.on(ChangeResourceRecordSetsCommand).resolves(CHANGE);
    const { adapter } = records();
    // Act
    await adapter.remove(NAME, VALUE);
    await adapter.remove(NAME, VALUE);
    await adapter.remove(NAME, VALUE);
    // Assess
    const batches = route53.commandCalls(ChangeResourceRecordSetsCommand).map((c) => c.args[0].input.ChangeBatch!.Changes);
    assert.deepEqual(batches, [
      [
        { Action: 'DELETE', ResourceRecordSet: txt(OTHER, VALUE) },
        { Action: 'CREATE', ResourceRecordSet: txt(OTHER) },
      ],
      [{ Action: 'DELETE', ResourceRecordSet: txt(VALUE) }],
    ]);
    assert.equal(route53.commandCalls(GetChangeCommand).length, 0, 'removal does not wait');
  });

  for (const [what, error] of [
    ['throttling', throttling()],
    ['PriorRequestNotComplete', new PriorRequestNotComplete({ message: 'The request was rejected because Route 53 was still processing a prior request.', $metadata: { httpStatusCode: 400 } })],
    ['a 5xx', internalError(Route53ServiceException, 'InternalFailure')],
    ['a timeout', timeoutError()],
    ['a reset connection', connectionReset()],
  ] as const) {
    it(`${what} on any call becomes TransientError with the cause`, async () => {
      // Prepare
      route53.on(ListResourceRecordSetsCommand).resolves(listing());
      route53.on(ChangeResourceRecordSetsCommand).rejects(error);
      // Act + Assess
      await assert.rejects(
        records().adapter.add(NAME, VALUE),
        (e: Error) => e instanceof TransientError && e.cause === error && /Publishing the ACME challenge at _acme-challenge\.desk\.example\.org failed for now/.test(e.message),
      );
      route53.reset();
      route53.on(ListResourceRecordSetsCommand).rejects(error);
      await assert.rejects(records().adapter.remove(NAME, VALUE), (e: Error) => e instanceof TransientError && e.cause === error);
      route53.reset();
      route53.on(ListResourceRecordSetsCommand).resolves(listing());
      route53.on(ChangeResourceRecordSetsCommand).resolves(CHANGE);
      route53.on(GetChangeCommand).rejects(error);
      await assert.rejects(records().adapter.add(NAME, VALUE), (e: Error) => e instanceof TransientError && /Waiting for the ACME challenge/.test(e.message));
    });
  }

  it('a missing hosted zone or an unrelated refusal passes through as it is (permanent)', async () => {
    // Prepare
    const noZone = new NoSuchHostedZone({ message: `No hosted zone found with ID: ${ZONE}`, $metadata: { httpStatusCode: 404 } });
    const refused = new InvalidChangeBatch({ message: 'x', messages: ['RRSet of type TXT with DNS name x is not permitted in zone y'], ...meta });
    route53.on(ListResourceRecordSetsCommand).rejectsOnce(noZone).resolves(listing());
    route53.on(ChangeResourceRecordSetsCommand).rejects(refused);
    // Act + Assess
    await assert.rejects(records().adapter.add(NAME, VALUE), (e) => e === noZone);
    await assert.rejects(records().adapter.add(NAME, VALUE), (e) => e === refused);
    assert.equal(route53.commandCalls(ChangeResourceRecordSetsCommand).length, 1);
  });

  it('refuses any name but _acme-challenge.<domain> and any value that is not base64url, without a call', async () => {
    // Act + Assess
    await assert.rejects(records().adapter.add('ws-a1b2c3d4e5f6g7h8.desk.example.org', VALUE), ChallengeRecordError);
    await assert.rejects(records().adapter.add(NAME, 'a" "b'), ChallengeRecordError);
    await assert.rejects(records().adapter.remove('desk.example.org', VALUE), ChallengeRecordError);
    assert.equal(route53.calls().length, 0);
  });
});
