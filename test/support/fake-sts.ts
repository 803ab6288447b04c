/**
 * A stand-in for AWS STS's GetCallerIdentity that checks SigV4 signatures for real: it re-signs what it
 * receives with the secret of the access key named in the signature (the same @smithy/signature-v4 the
 * gate signs with) and compares, as STS does. Tasks are registered with their credentials and the
 * assumed-role ARN STS would answer for them.
 */
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';

export interface FakeTask {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly arn: string;
}

export interface ForwardedCall {
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export function taskCredentials(n: number, arn: string): FakeTask {
  return { accessKeyId: `ASIATESTTASK${String(n).padStart(8, '0')}`, secretAccessKey: `secret-${n}`, sessionToken: `session-token-${n}`, arn };
}

const errorXml = (code: string, message: string) =>
  `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`;

export class FakeSts {
  readonly calls: ForwardedCall[] = [];
  private readonly tasks = new Map<string, FakeTask>();

  constructor(private readonly region = 'eu-west-2') {}

  add(task: FakeTask): this {
    this.tasks.set(task.accessKeyId, task);
    return this;
  }

  /** `fetch` as STS answers it. */
  readonly fetch = (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const headers = Object.fromEntries(Object.entries((init?.headers ?? {}) as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]));
    const body = String(init?.body ?? '');
    this.calls.push({ url, method: init?.method ?? 'GET', headers, body });
    return this.answer(url, headers, body);
  }) as typeof fetch;

  private async answer(url: string, headers: Record<string, string>, body: string): Promise<Response> {
    const auth = /Credential=([^/]+)\/(\d{8})\/([^/]+)\/sts\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)/.exec(headers.authorization ?? '');
    if (!auth) return new Response(errorXml('MissingAuthenticationToken', 'no signature'), { status: 403 });
    const task = this.tasks.get(auth[1]!);
    if (!task) return new Response(errorXml('InvalidClientTokenId', 'The security token included in the request is invalid.'), { status: 403 });
    const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(headers['x-amz-date'] ?? '');
    if (!date) return new Response(errorXml('IncompleteSignature', 'no date'), { status: 400 });
    const signingDate = new Date(Date.UTC(+date[1]!, +date[2]! - 1, +date[3]!, +date[4]!, +date[5]!, +date[6]!));
    const target = new URL(url);
    const signer = new SignatureV4({ credentials: task, region: this.region, service: 'sts', sha256: Sha256 });
    const unsigned = Object.fromEntries(
      Object.entries(headers).filter(([name]) => !['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'].includes(name) && auth[4]!.split(';').includes(name)),
    );
    const resigned = await signer.sign(
      { method: 'POST', protocol: target.protocol, hostname: target.hostname, path: target.pathname, query: {}, headers: { ...unsigned, host: target.host }, body },
      { signingDate },
    );
    if (resigned.headers.authorization !== headers.authorization || headers['x-amz-security-token'] !== task.sessionToken) {
      return new Response(errorXml('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.'), { status: 403 });
    }
    if (body !== 'Action=GetCallerIdentity&Version=2011-06-15') return new Response(errorXml('InvalidAction', 'not GetCallerIdentity'), { status: 400 });
    return new Response(
      `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>${task.arn}</Arn><UserId>AROAEXAMPLE:${task.arn.split('/').pop()}</UserId><Account>${task.arn.split(':')[4]}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
      { status: 200, headers: { 'content-type': 'text/xml' } },
    );
  }
}
