import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import {
  ChangeResourceRecordSetsCommand,
  InvalidChangeBatch,
  ListResourceRecordSetsCommand,
  NoSuchHostedZone,
  PriorRequestNotComplete,
  Route53Client,
  Route53ServiceException,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError } from '../../../lambdas/core/errors.js';
import { HostnameError, Route53Hostnames } from '../../../lambdas/adapters/aws/route53-hostnames.js';
import { clientError, connectionReset, internalError, serviceError, serviceUnavailable, timeoutError } from './sdk-errors.js';

const ZONE = 'Z0123456789ABCDEFGHIJ';
const DESK = 'desk.example.org';
const HOST = `ws-a1b2c3d4e5f6g7h8.${DESK}`;
const OTHER = `ws-zzzzzzzzzzzzzzzz.${DESK}`;

const client = new Route53Client({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const route53 = mockClient(client);

function hostnames(ttlSeconds?: number) {
  return new Route53Hostnames(client, { hostedZoneId: `/hostedzone/${ZONE}`, deskDomain: DESK, ...(ttlSeconds ? { ttlSeconds } : {}) });
}

function aRecord(name: string, ip: string, ttl = 60): ResourceRecordSet {
  return { Name: `${name}.`, Type: 'A', TTL: ttl, ResourceRecords: [{ Value: ip }] };
}

const CHANGE_INFO = { ChangeInfo: { Id: '/change/C2682N5HXP0BZ4', Status: 'PENDING' as const, SubmittedAt: new Date('2030-01-01T09:00:00Z') } };
const throttling = () => serviceError(Route53ServiceException, 'Throttling', 400, 'Rate exceeded');
const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode, requestId: 'test-request-id', attempts: 5 } });
/** Route 53's answer to a change batch it cannot apply: the reasons are in `messages`. */
const invalidChangeBatch = (message: string) => new InvalidChangeBatch({ message: `[${message}]`, messages: [message], ...meta(400) });

describe('Route53Hostnames', () => {
  afterEach(() => route53.reset());

  describe('assign', () => {
    it('UPSERTs an A record for the address without its port, with the TTL', async () => {
      // Prepare
      route53.on(ChangeResourceRecordSetsCommand).resolves(CHANGE_INFO);
      // Act
      await hostnames(30).assign(HOST, '10.0.1.23:443');
      // Assess
      const calls = route53.commandCalls(ChangeResourceRecordSetsCommand);
      assert.equal(calls.length, 1);
      assert.deepEqual(calls[0]!.args[0].input, {
        HostedZoneId: ZONE,
        ChangeBatch: {
          Comment: 'carrel workspace hostname (upsert)',
          Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: `${HOST}.`, Type: 'A', TTL: 30, ResourceRecords: [{ Value: '10.0.1.23' }] } }],
        },
      });
    });

    it('defaults the TTL to 60 seconds and accepts a bare IP', async () => {
      // Prepare
      route53.on(ChangeResourceRecordSetsCommand).resolves(CHANGE_INFO);
      // Act
      await hostnames().assign(HOST, '203.0.113.7');
      // Assess
      const record = route53.commandCalls(ChangeResourceRecordSetsCommand)[0]!.args[0].input.ChangeBatch?.Changes?.[0]?.ResourceRecordSet;
      assert.equal(record?.TTL, 60);
      assert.deepEqual(record?.ResourceRecords, [{ Value: '203.0.113.7' }]);
    });

    for (const [what, hostname] of [
      ['outside the desk domain', 'ws-a1b2c3d4e5f6g7h8.example.com'],
      ['a parent of the desk domain', `ws-a1b2c3d4e5f6g7h8.example.org`],
      ['deeper than one label', `x.ws-a1b2c3d4e5f6g7h8.${DESK}`],
      ['not a workspace label', `www.${DESK}`],
      ['the desk domain itself', DESK],
      ['a short label', `ws-abc.${DESK}`],
    ] as const) {
      it(`refuses a hostname ${what} without calling Route 53`, async () => {
        // Act / Assess
        await assert.rejects(hostnames().assign(hostname, '10.0.0.1:443'), HostnameError);
        assert.equal(route53.calls().length, 0);
      });
    }

    for (const address of ['fd00::1', '[fd00::1]:443', '10.0.0.256:443', 'localhost:443', '']) {
      it(`refuses the address "${address}" (A records hold IPv4 only)`, async () => {
        // Act / Assess
        await assert.rejects(hostnames().assign(HOST, address), HostnameError);
        assert.equal(route53.calls().length, 0);
      });
    }

    it('is idempotent: assigning twice sends the same UPSERT twice', async () => {
      // Prepare
      route53.on(ChangeResourceRecordSetsCommand).resolves(CHANGE_INFO);
      const adapter = hostnames();
      // Act
      await adapter.assign(HOST, '10.0.1.23:443');
      await adapter.assign(HOST, '10.0.1.23:443');
      // Assess
      const [first, second] = route53.commandCalls(ChangeResourceRecordSetsCommand).map((call) => call.args[0].input);
      assert.deepEqual(first, second);
    });
  });

  describe('release', () => {
    it('reads the exact current record and DELETEs it with its values', async () => {
      // Prepare
      route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [aRecord(HOST, '10.0.1.23', 30)], IsTruncated: true, NextRecordName: `${OTHER}.`, NextRecordType: 'A', MaxItems: 1 });
      route53.on(ChangeResourceRecordSetsCommand).resolves(CHANGE_INFO);
      // Act
      await hostnames().release(HOST);
      // Assess
      assert.deepEqual(route53.commandCalls(ListResourceRecordSetsCommand)[0]!.args[0].input, {
        HostedZoneId: ZONE,
        StartRecordName: `${HOST}.`,
        StartRecordType: 'A',
        MaxItems: 1,
      });
      assert.deepEqual(route53.commandCalls(ChangeResourceRecordSetsCommand)[0]!.args[0].input, {
        HostedZoneId: ZONE,
        ChangeBatch: { Comment: 'carrel workspace hostname (delete)', Changes: [{ Action: 'DELETE', ResourceRecordSet: aRecord(HOST, '10.0.1.23', 30) }] },
      });
    });

    it('does nothing when the record is absent (the listing starts at the next name)', async () => {
      // Prepare
      route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [aRecord(OTHER, '10.0.9.9')], IsTruncated: false, MaxItems: 1 });
      // Act
      await hostnames().release(HOST);
      // Assess
      assert.equal(route53.commandCalls(ChangeResourceRecordSetsCommand).length, 0);
    });

    it('does nothing when only another type has that name', async () => {
      // Prepare
      route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [{ Name: `${HOST}.`, Type: 'TXT', TTL: 60, ResourceRecords: [{ Value: '"x"' }] }], IsTruncated: false, MaxItems: 1 });
      // Act
      await hostnames().release(HOST);
      // Assess
      assert.equal(route53.commandCalls(ChangeResourceRecordSetsCommand).length, 0);
    });

    it('does nothing when the zone is empty', async () => {
      // Prepare
      route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [], IsTruncated: false, MaxItems: 1 });
      // Act
      await hostnames().release(HOST);
      // Assess
      assert.equal(route53.commandCalls(ChangeResourceRecordSetsCommand).length, 0);
    });

    it('tolerates a record deleted by someone else between the read and the DELETE', async () => {
      // Prepare
      route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [aRecord(HOST, '10.0.1.23')], IsTruncated: false, MaxItems: 1 });
      const message = `Tried to delete resource record set [name='${HOST}.', type='A'] but it was not found`;
      route53.on(ChangeResourceRecordSetsCommand).rejects(invalidChangeBatch(message));
      // Act / Assess
      await hostnames().release(HOST);
      assert.equal(route53.commandCalls(ChangeResourceRecordSetsCommand).length, 1);
    });

    it('reads again and deletes the new values when the record changed in between', async () => {
      // Prepare
      route53
        .on(ListResourceRecordSetsCommand)
        .resolvesOnce({ ResourceRecordSets: [aRecord(HOST, '10.0.1.23')], IsTruncated: false, MaxItems: 1 })
        .resolves({ ResourceRecordSets: [aRecord(HOST, '10.0.7.7')], IsTruncated: false, MaxItems: 1 });
      const message = `Tried to delete resource record set [name='${HOST}.', type='A'] but the values provided do not match the current values`;
      route53
        .on(ChangeResourceRecordSetsCommand)
        .rejectsOnce(invalidChangeBatch(message))
        .resolves(CHANGE_INFO);
      // Act
      await hostnames().release(HOST);
      // Assess
      const deletes = route53.commandCalls(ChangeResourceRecordSetsCommand).map((call) => call.args[0].input.ChangeBatch?.Changes?.[0]?.ResourceRecordSet);
      assert.deepEqual(deletes, [aRecord(HOST, '10.0.1.23'), aRecord(HOST, '10.0.7.7')]);
    });

    it('gives up after three changed reads with the InvalidChangeBatch', async () => {
      // Prepare
      route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [aRecord(HOST, '10.0.1.23')], IsTruncated: false, MaxItems: 1 });
      const message = 'Tried to delete resource record set but the values provided do not match the current values';
      route53.on(ChangeResourceRecordSetsCommand).rejects(invalidChangeBatch(message));
      // Act / Assess
      await assert.rejects(hostnames().release(HOST), (error) => error instanceof InvalidChangeBatch);
      assert.equal(route53.commandCalls(ChangeResourceRecordSetsCommand).length, 3);
    });

    it('refuses a hostname outside the desk domain', async () => {
      // Act / Assess
      await assert.rejects(hostnames().release('ws-a1b2c3d4e5f6g7h8.elsewhere.org'), HostnameError);
      assert.equal(route53.calls().length, 0);
    });
  });

  describe('list', () => {
    it('returns every workspace A record under the desk domain, across pages, and stops past the subtree', async () => {
      // Prepare: Route 53 lists in reverse-label order, so the desk subtree is contiguous.
      route53
        .on(ListResourceRecordSetsCommand, { HostedZoneId: ZONE, StartRecordName: `${DESK}.` })
        .resolves({
          ResourceRecordSets: [
            { Name: `${DESK}.`, Type: 'A', AliasTarget: { DNSName: 'd111111abcdef8.cloudfront.net.', HostedZoneId: 'Z2FDTNDATAQYW2', EvaluateTargetHealth: false } },
            { Name: `\\052.${DESK}.`, Type: 'CNAME', TTL: 300, ResourceRecords: [{ Value: 'x.example.org' }] },
            aRecord(HOST, '10.0.1.23'),
            { Name: `${HOST}.`, Type: 'TXT', TTL: 60, ResourceRecords: [{ Value: '"owner"' }] },
          ],
          IsTruncated: true,
          NextRecordName: `ws-mmmmmmmmmmmmmmmm.${DESK}.`,
          NextRecordType: 'A',
          MaxItems: 4,
        });
      route53
        .on(ListResourceRecordSetsCommand, { HostedZoneId: ZONE, StartRecordName: `ws-mmmmmmmmmmmmmmmm.${DESK}.`, StartRecordType: 'A' })
        .resolves({
          ResourceRecordSets: [
            aRecord(`ws-mmmmmmmmmmmmmmmm.${DESK}`, '10.0.2.2'),
            aRecord(`www.${DESK}`, '10.0.3.3'),
            aRecord(`ws-short.${DESK}`, '10.0.3.4'),
            aRecord(OTHER.toUpperCase(), '10.0.4.4'),
            aRecord('zzz.example.org', '10.0.5.5'),
            aRecord(`ws-nnnnnnnnnnnnnnnn.other.example.org`, '10.0.6.6'),
          ],
          IsTruncated: true,
          NextRecordName: 'zzzz.example.org.',
          NextRecordType: 'A',
          MaxItems: 6,
        });
      // Act
      const names = await hostnames().list();
      // Assess
      assert.deepEqual(names, [HOST, `ws-mmmmmmmmmmmmmmmm.${DESK}`, OTHER]);
      assert.equal(route53.commandCalls(ListResourceRecordSetsCommand).length, 2, 'no third page: the listing left the desk domain');
    });

    it('returns nothing for an empty zone', async () => {
      // Prepare
      route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [], IsTruncated: false, MaxItems: 100 });
      // Act / Assess
      assert.deepEqual(await hostnames().list(), []);
    });
  });

  describe('faults', () => {
    const transient: [string, () => Error][] = [
      ['Throttling (Rate exceeded)', throttling],
      ['PriorRequestNotComplete', () => new PriorRequestNotComplete({ message: 'The request was rejected because Route 53 was still processing a prior request.', ...meta(400) })],
      ['ThrottlingException', () => clientError(Route53ServiceException, 'ThrottlingException', 'Rate exceeded')],
      ['InternalFailure (500)', () => internalError(Route53ServiceException, 'InternalFailure')],
      ['ServiceUnavailable (503)', () => serviceUnavailable(Route53ServiceException, 'ServiceUnavailable')],
      ['a timeout', timeoutError],
      ['a reset connection', connectionReset],
    ];
    const operations: [string, (adapter: Route53Hostnames) => Promise<unknown>, () => void][] = [
      ['assign', (a) => a.assign(HOST, '10.0.0.1:443'), () => {}],
      ['release (read)', (a) => a.release(HOST), () => {}],
      ['release (delete)', (a) => a.release(HOST), () => route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [aRecord(HOST, '10.0.0.1')], IsTruncated: false })],
      ['list', (a) => a.list(), () => {}],
    ];
    for (const [operation, act, prepare] of operations) {
      for (const [what, make] of transient) {
        it(`${operation}: ${what} is a TransientError carrying the cause`, async () => {
          // Prepare
          const cause = make();
          prepare();
          if (operation === 'release (delete)' || operation === 'assign') route53.on(ChangeResourceRecordSetsCommand).rejects(cause);
          else route53.on(ListResourceRecordSetsCommand).rejects(cause);
          // Act / Assess
          await assert.rejects(act(hostnames()), (error) => error instanceof TransientError && error.cause === cause);
        });
      }
    }

    it('passes a missing hosted zone on as is (a configuration error, not transient)', async () => {
      // Prepare
      const cause = new NoSuchHostedZone({ message: `No hosted zone found with ID: ${ZONE}`, ...meta(404) });
      route53.on(ChangeResourceRecordSetsCommand).rejects(cause);
      // Act / Assess
      await assert.rejects(hostnames().assign(HOST, '10.0.0.1:443'), (error) => error === cause);
    });

    it('passes access denied on as is', async () => {
      // Prepare
      const cause = serviceError(Route53ServiceException, 'AccessDenied', 403, 'User is not authorized to perform: route53:ChangeResourceRecordSets');
      route53.on(ListResourceRecordSetsCommand).rejects(cause);
      // Act / Assess
      await assert.rejects(hostnames().list(), (error) => error === cause && !(error instanceof TransientError));
    });
  });
});
